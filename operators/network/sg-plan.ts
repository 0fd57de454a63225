// What the security group controller does (pure): Neutron's semantics as NetworkPolicies. A group is
// one policy selecting its members' launcher pods by label (sg.network.cellcloud.io/<group>): members
// reach each other, other ingress only as a rule allows, egress all unless egress rules are set. Each
// VPC gets one more policy selecting all its pods with no rule at all: NetworkPolicies add up, so that
// one denies what no group allows, and a rule's peers are kept inside the VPC (a remote group is
// looked up in the same VPC; "any peer" means the VPC's own pods, or outside addresses).
import { launcher } from "../api/compute.ts";
import { defaultGroupName, SecurityGroupRef, VPCRef, type SecurityGroupObj, type SecurityGroupRule, type VPCObj } from "../api/network.ts";
import { NetworkPolicyRef } from "../runtime/core.ts";
import { nameList } from "../runtime/conditions.ts";
import type { Action, ConditionSpec, Plan } from "../runtime/managed.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";

export const sgLabel = (group: string) => `${launcher.securityGroupLabelPrefix}${group}`;
export const vpcLabel = (vpc: string) => `${launcher.vpcLabelPrefix}${vpc}`;
export const groupPolicyName = (group: string) => `sg-${group}`;
export const isolationPolicyName = (vpc: string) => `vpc-${vpc}-isolation`;

type Peer = Record<string, unknown>;
export type NetworkPolicy = KubeObject & { spec: Record<string, unknown> };

export interface SGObservation {
  vpc?: VPCObj;
  /** Instances with a NIC in the group (a NIC naming none is in its VPC's default group). */
  members: readonly string[];
  /** Another group of the namespace, by name. */
  group(name: string): SecurityGroupObj | undefined;
  /** The group's NetworkPolicy as cached. */
  policy?: NetworkPolicy;
}

const selector = (label: string) => ({ matchLabels: { [label]: "" } });

/** One rule's peers and ports; undefined when NetworkPolicy cannot express it (icmp only). */
export function ruleOf(r: SecurityGroupRule, vpc: string): { peers: Peer[]; ports?: Array<Record<string, unknown>> } | undefined {
  if (r.protocol === "icmp") return undefined;
  const peers: Peer[] = r.remoteGroup ? [{ podSelector: selector(sgLabel(r.remoteGroup)) }]
    : r.remoteCIDR ? [{ ipBlock: { cidr: r.remoteCIDR } }]
    : [{ podSelector: selector(vpcLabel(vpc)) }, { ipBlock: { cidr: "0.0.0.0/0" } }];
  if (r.protocol === "all") return { peers };
  const protocol = r.protocol.toUpperCase();
  const to = r.ports?.to ?? r.ports?.from;
  const port = r.ports ? { port: r.ports.from, ...(to !== undefined && to > r.ports.from ? { endPort: to } : {}) } : {};
  return { peers, ports: [{ protocol, ...port }] };
}

/** The group's NetworkPolicy: members to and from each other, and each rule. */
export function groupPolicy(sg: SecurityGroupObj, skip: (r: SecurityGroupRule) => boolean = () => false): NetworkPolicy {
  const vpc = sg.spec.vpc;
  const self = { podSelector: selector(sgLabel(sg.metadata.name)) };
  const rules = (list: readonly SecurityGroupRule[], side: "from" | "to") => [
    { [side]: [self] },
    ...list.filter((r) => !skip(r)).flatMap((r) => { const x = ruleOf(r, vpc); return x ? [{ [side]: x.peers, ...(x.ports ? { ports: x.ports } : {}) }] : []; }),
  ];
  const egress = sg.spec.egress;
  return networkPolicy(sg, SecurityGroupRef, groupPolicyName(sg.metadata.name), "securitygroup", {
    podSelector: self.podSelector,
    policyTypes: egress ? ["Ingress", "Egress"] : ["Ingress"],
    ingress: rules(sg.spec.ingress ?? [], "from"),
    ...(egress ? { egress: rules(egress, "to") } : {}),
  });
}

/** A NetworkPolicy named `name`, owned by (and labelled with) the object it realizes. */
const networkPolicy = (owner: KubeObject, ref: ResourceRef, name: string, label: string, spec: Record<string, unknown>): NetworkPolicy => ({
  apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
  metadata: {
    name, namespace: owner.metadata.namespace,
    labels: { "app.kubernetes.io/managed-by": "cellcloud", [`network.cellcloud.io/${label}`]: owner.metadata.name },
    ownerReferences: [controllerRef(owner, ref, false)],
  },
  spec,
});

/** The VPC's isolation: every pod of the VPC, no rule: only what a group allows gets in. */
export function isolationPolicy(vpc: VPCObj): NetworkPolicy {
  return networkPolicy(vpc, VPCRef, isolationPolicyName(vpc.metadata.name), "vpc", { podSelector: selector(vpcLabel(vpc.metadata.name)), policyTypes: ["Ingress"] });
}

/** A VPC's default group: members reach each other, all egress (Neutron's default group). */
export function defaultGroup(vpc: VPCObj): SecurityGroupObj & { apiVersion: string; kind: string } {
  return {
    apiVersion: `${SecurityGroupRef.group}/${SecurityGroupRef.version}`, kind: SecurityGroupRef.kind,
    metadata: { name: defaultGroupName(vpc.metadata.name), namespace: vpc.metadata.namespace, ownerReferences: [controllerRef(vpc, VPCRef, false)] },
    spec: { vpc: vpc.metadata.name, description: `The default group of VPC ${vpc.metadata.name}: used by NICs that name none.` },
  };
}

/** Rules whose remote group is not a group of the same VPC: named for the message, left out of the policy (fail closed). */
function badRemotes(sg: SecurityGroupObj, o: SGObservation): Array<{ field: string; rule: SecurityGroupRule; why: string }> {
  const out: Array<{ field: string; rule: SecurityGroupRule; why: string }> = [];
  for (const side of ["ingress", "egress"] as const) {
    for (const [i, rule] of (sg.spec[side] ?? []).entries()) {
      if (!rule.remoteGroup) continue;
      const g = o.group(rule.remoteGroup);
      const why = !g ? "not found in this namespace" : g.spec.vpc !== sg.spec.vpc ? `is in VPC ${g.spec.vpc}, not ${sg.spec.vpc}` : undefined;
      if (why) out.push({ field: `spec.${side}[${i}].remoteGroup`, rule, why: `SecurityGroup "${rule.remoteGroup}" ${why}` });
    }
  }
  return out;
}

export function sgPlan(sg: SecurityGroupObj, o: SGObservation): Plan {
  const unenforced = [...(sg.spec.ingress ?? []), ...(sg.spec.egress ?? [])].filter((r) => r.protocol === "icmp").length;
  const fields = { members: o.members.length, unenforced };
  if (!o.vpc || o.vpc.metadata.deletionTimestamp) {
    return { status: { fields, conditions: [{ type: "Ready", status: "False", reason: "VPCNotFound", message: `spec.vpc: VPC "${sg.spec.vpc}" not found in this namespace`, announce: "Warning" }] } };
  }
  const bad = badRemotes(sg, o);
  const policy = groupPolicy(sg, (r) => bad.some((b) => b.rule === r));
  const ready: ConditionSpec = bad.length
    ? { type: "Ready", status: "False", reason: "RemoteGroupNotFound", message: `${bad.map((b) => `${b.field}: ${b.why}`).join("; ")}; those rules allow nothing until it exists`, announce: "Warning" }
    : { type: "Ready", status: "True", reason: "Enforced", message: unenforced ? `${unenforced} icmp rule(s) are recorded but not enforced: NetworkPolicy cannot express ICMP alone` : "" };
  return {
    actions: [{ verb: "apply", ref: NetworkPolicyRef, object: policy, ...(o.policy ? { cached: o.policy } : {}) }],
    status: { fields: { ...fields, networkPolicy: policy.metadata.name }, conditions: [ready] },
  };
}

/** Deleting: wait (and say who) until no NIC names the group; its NetworkPolicy goes with it (owner reference). */
export function sgFinalize(sg: SecurityGroupObj, o: SGObservation): Plan {
  if (!o.members.length) return { done: true };
  return {
    done: false,
    status: { fields: { members: o.members.length }, conditions: [{ type: "Ready", status: "False", reason: "InUse", message: `cannot delete: instance(s) ${nameList(o.members)} have NICs in this group; remove it from their NICs first`, announce: "Warning" }] },
    requeueAfterMs: 10_000,
  };
}

/** What a live VPC needs besides its VNI: its default group (made once) and its isolation policy. */
export function vpcObjects(vpc: VPCObj, o: { defaultGroup: boolean; isolation?: NetworkPolicy }): Action[] {
  return [
    ...(o.defaultGroup ? [] : [{ verb: "create", ref: SecurityGroupRef, object: defaultGroup(vpc) } as const]),
    { verb: "apply", ref: NetworkPolicyRef, object: isolationPolicy(vpc), ...(o.isolation ? { cached: o.isolation } : {}) },
  ];
}
