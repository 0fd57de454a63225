// What the subnet controller does (pure). A subnet is usable once its VPC exists with a VNI, its
// block lies inside one of the VPC's blocks and overlaps no older sibling (the older keeps it, the
// newer says why it waits). Its status counts the addresses handed out from the IPAllocations of the
// subnet (derived; the allocations are the truth). While any address is held it cannot go: the
// finalizer waits and says who holds them.
import { containsCidr, overlapCidr } from "cidr-tools";
import type { IPAllocationObj, SubnetObj, VPCObj } from "../api/network.ts";
import { nameList } from "../runtime/conditions.ts";
import type { ConditionSpec, Plan } from "../runtime/managed.ts";
import { subnetGateway, subnetSpace } from "../runtime/ipam.ts";

export interface SubnetObservation {
  vpc?: VPCObj;
  /** Other subnets of the same VPC. */
  siblings: readonly SubnetObj[];
  /** The addresses held from this subnet. */
  allocations: ReadonlyArray<Pick<IPAllocationObj, "spec">>;
}

/** How the finalizer names the holders of a subnet's addresses: the first few (in order), then a count. */
export function holders(allocations: SubnetObservation["allocations"], max = 3): string {
  return nameList(allocations.map((a) => `${a.spec.owner.kind} ${a.spec.owner.namespace}/${a.spec.owner.name} (${a.spec.address})`).sort(), max);
}

const older = (a: SubnetObj, b: SubnetObj) =>
  (a.metadata.creationTimestamp ?? "") < (b.metadata.creationTimestamp ?? "") ||
  ((a.metadata.creationTimestamp ?? "") === (b.metadata.creationTimestamp ?? "") && a.metadata.name < b.metadata.name);

/** Why the subnet cannot hand out addresses, if it cannot. */
export function subnetProblem(s: SubnetObj, o: SubnetObservation): ConditionSpec | undefined {
  const v = o.vpc;
  const wait = (reason: string, message: string): ConditionSpec => ({ type: "Ready", status: "False", reason, message, announce: "Warning" });
  if (!v || v.metadata.deletionTimestamp) return wait("VPCNotFound", `spec.vpc: VPC "${s.spec.vpc}" not found in this namespace`);
  if (!v.spec.cidrBlocks.some((b) => containsCidr(b, s.spec.cidrBlock))) {
    return wait("OutsideVPC", `spec.cidrBlock: ${s.spec.cidrBlock} is outside VPC ${v.metadata.name}'s blocks (${v.spec.cidrBlocks.join(", ")})`);
  }
  const clash = o.siblings.filter((x) => x.metadata.name !== s.metadata.name && !x.metadata.deletionTimestamp && older(x, s) && overlapCidr(x.spec.cidrBlock, s.spec.cidrBlock));
  if (clash.length) {
    return wait("Overlaps", `spec.cidrBlock: ${s.spec.cidrBlock} overlaps ${clash.map((x) => `Subnet ${x.metadata.name} (${x.spec.cidrBlock})`).join(", ")} of VPC ${v.metadata.name}`);
  }
  if (!v.status?.vni) return { type: "Ready", status: "False", reason: "VPCNotReady", message: `VPC ${v.metadata.name} has no VNI yet` };
  return undefined;
}

export function subnetPlan(s: SubnetObj, o: SubnetObservation): Plan {
  const capacity = subnetSpace(s.spec).size;
  const allocated = o.allocations.length;
  const fields = { gateway: subnetGateway(s.spec), vni: o.vpc?.status?.vni, capacity, allocated, available: Math.max(0, capacity - allocated) };
  const problem = subnetProblem(s, o);
  if (problem) return { status: { fields, conditions: [problem] } };
  return { status: { fields, conditions: [{ type: "Ready", status: "True", reason: "Available", message: `${fields.available} of ${capacity} addresses free` }] } };
}

/** Deleting: wait (and say who holds what) until no address of the subnet is held. */
export function subnetFinalize(s: SubnetObj, o: SubnetObservation): Plan {
  if (!o.allocations.length) return { done: true };
  return {
    done: false,
    status: {
      fields: { allocated: o.allocations.length },
      conditions: [{ type: "Ready", status: "False", reason: "InUse", message: `cannot delete: ${o.allocations.length} address(es) held by ${holders(o.allocations)}; release them first`, announce: "Warning" }],
    },
    requeueAfterMs: 10_000,
  };
}
