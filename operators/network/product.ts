// VPC networking as the composition root sees it: the VPC, subnet (with the address repair), security
// group, elastic IP and load balancer controllers; VPCs, security groups, elastic IPs and load
// balancers charged against quota (one each, in the tenant's vpcs, securitygroups, eips and
// loadbalancers dimensions); and the webhook that refuses deleting what is in use.
import { meter } from "../api/billing.ts";
import { EIP_FINALIZER, ElasticIPRef, LB_FINALIZER, LoadBalancerRef, type ElasticIPObj, type LoadBalancerObj, SECURITY_GROUP_FINALIZER, SecurityGroupRef, VPC_FINALIZER, VPCRef } from "../api/network.ts";
import type { Product } from "../runtime/product.ts";
import { setupElasticIPController } from "./eip-controller.ts";
import { setupLoadBalancerController } from "./slb-controller.ts";
import { setupSecurityGroupController } from "./sg-controller.ts";
import { setupSubnetController } from "./subnet-controller.ts";
import { setupVPCController } from "./vpc-controller.ts";
import { registerNetworkWebhooks } from "./webhook.ts";

export const network: Product = {
  name: "network",
  controllers: {
    vpc: setupVPCController,
    subnet: setupSubnetController,
    securitygroup: setupSecurityGroupController,
    elasticip: setupElasticIPController,
    loadbalancer: setupLoadBalancerController,
  },
  charged() {
    const one = (dimension: string) => (_obj: unknown, ctx: { tenant: string }) => ({ charge: { tenant: ctx.tenant, zone: "", amounts: { [dimension]: 1 } } });
    return [
      { ref: VPCRef, finalizer: VPC_FINALIZER, price: one("vpcs") },
      { ref: SecurityGroupRef, finalizer: SECURITY_GROUP_FINALIZER, price: one("securitygroups") },
      { ref: ElasticIPRef, finalizer: EIP_FINALIZER, price: one("eips") },
      { ref: LoadBalancerRef, finalizer: LB_FINALIZER, price: one("loadbalancers") },
    ];
  },
  billable() {
    return [
      { ref: ElasticIPRef, meters: (o) => [meter("eip", "eip.Mbps-hour", (o as ElasticIPObj).spec.bandwidth.egressMbps)] },
      { ref: LoadBalancerRef, meters: (o) => [meter("slb", "slb.node-hour", (o as LoadBalancerObj).spec.replicas, { zone: (o as LoadBalancerObj).spec.zone })] },
    ];
  },
  webhooks(mgr, server) {
    registerNetworkWebhooks(mgr, server);
  },
};
