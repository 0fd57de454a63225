// Network's admission webhook: a delete that would orphan what depends on the object is refused
// with a message that names the dependents (a subnet holding addresses, a security group with
// members, a bound ElasticIP, a VPC with subnets). The finalizers hold the same line when the
// webhook is not there (or its caches are not synced yet); this makes the refusal immediate.
// References themselves need no cross-tenant check: every one (a NIC's subnet and groups, a subnet's
// or group's VPC, a rule's remote group, an ElasticIP's target) is a bare name in the referrer's own
// namespace, and a namespace belongs to one tenant; the schema refuses anything else.
import { ElasticIPRef, SecurityGroupRef, SubnetRef, VPCRef, type ElasticIPObj } from "../api/network.ts";
import { allow, deny, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import { nameList } from "../runtime/conditions.ts";
import { allocationCache } from "../runtime/ipam.ts";
import type { Manager } from "../runtime/manager.ts";
import type { WebhookServer } from "../runtime/webhook.ts";
import { lockCache } from "./eip-controller.ts";
import { groupMembers } from "./sg-controller.ts";
import { holders } from "./subnet-plan.ts";
import { subnetCache } from "./subnet-controller.ts";

const PATH = "/network/validate";

export function registerNetworkWebhooks(mgr: Manager, server: WebhookServer): void {
  const allocations = allocationCache(mgr);
  const { ofVPC } = subnetCache(mgr);
  const members = groupMembers(mgr);
  const eips = mgr.informer<ElasticIPObj>(ElasticIPRef);
  const { heldBy } = lockCache(mgr);
  const refs = [SubnetRef, SecurityGroupRef, ElasticIPRef, VPCRef];
  server.register(PATH, "validating", [{
    name: "delete.network.cellcloud.io", sideEffects: "None",
    rules: [{ apiGroups: [VPCRef.group], apiVersions: ["*"], resources: refs.map((r) => r.plural), operations: ["DELETE"], scope: "Namespaced" }],
  }], (req) => validateDelete(req));

  function validateDelete(req: AdmissionRequest): AdmissionResponse {
    if (req.operation !== "DELETE" || !req.name || !req.namespace) return allow(req);
    const key = `${req.namespace}/${req.name}`;
    const refuse = (message: string) => deny(req, 409, "Conflict", message);
    switch (req.resource.resource) {
      case SubnetRef.plural: {
        const held = allocations.ofSubnet(key);
        return held.length ? refuse(`Subnet ${req.name} holds ${held.length} address(es), of ${holders(held)}: release them (delete or move those NICs) first`) : allow(req);
      }
      case SecurityGroupRef.plural: {
        const m = members(key);
        return m.length ? refuse(`SecurityGroup ${req.name} is used by the NICs of instance(s) ${nameList(m)}: remove it from their NICs first`) : allow(req);
      }
      case ElasticIPRef.plural: {
        const e = eips.get(key);
        const bound = e?.spec.target && heldBy(e.metadata.uid ?? "").length > 0;
        return bound ? refuse(`ElasticIP ${req.name} is bound to ${e!.spec.target!.kind} ${e!.spec.target!.name}: unbind it (remove spec.target) first`) : allow(req);
      }
      case VPCRef.plural: {
        const subnets = ofVPC(key).map((s) => s.metadata.name).sort();
        return subnets.length ? refuse(`VPC ${req.name} has Subnet(s) ${nameList(subnets)}: delete them first`) : allow(req);
      }
      default:
        return allow(req);
    }
  }
}
