// VPC networking as the composition root sees it: the VPC controller (with its claim repair), and
// VPCs charged against quota (one each, in the tenant's `vpcs` dimension).
import { VPC_FINALIZER, VPCRef } from "../api/network.ts";
import type { Product } from "../runtime/product.ts";
import { setupSecurityGroupController } from "./sg-controller.ts";
import { setupSubnetController } from "./subnet-controller.ts";
import { setupVPCController } from "./vpc-controller.ts";

export const network: Product = {
  name: "network",
  controllers: {
    vpc: setupVPCController,
    subnet: setupSubnetController,
    securitygroup: setupSecurityGroupController,
  },
  charged() {
    return [{ ref: VPCRef, finalizer: VPC_FINALIZER, price: (_obj, ctx) => ({ charge: { tenant: ctx.tenant, zone: "", amounts: { vpcs: 1 } } }) }];
  },
};
