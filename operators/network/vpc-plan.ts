// What the VPC controller does (pure). A VPC holds one VNI through a VNIClaim named by it: the claim
// is created first (the apiserver's create is the lock; AlreadyExists means taken), and only then is
// status.vni written, so a crash in between leaves a claim the next reconcile finds by its holder's
// uid and keeps. On deletion the claim goes last. VNIs are picked from a random start over the free
// set, so two managers (or a restart with a stale cache) rarely race for the same one.
import { VNI_RANGE, VNIClaimRef, type TunnelType, type VPCObj } from "../api/network.ts";
import { nameList } from "../runtime/conditions.ts";
import type { Action, Plan } from "../runtime/managed.ts";

/** What the claim cache shows. */
export interface VPCObservation {
  /** VNIs claimed for this VPC (by its uid), oldest first, with each claim's own uid. */
  held: ReadonlyArray<{ vni: number; uid: string }>;
  /** Every VNI claimed by anyone (claims are named by their VNI: a cache lookup, not a scan). */
  taken: Pick<ReadonlySet<number>, "has" | "size">;
  /** Names of the VPC's subnets (it cannot go before them). */
  subnets?: readonly string[];
}

/** When a wanted VNI is taken or none is free, how long until the VPC looks again. */
export const VNI_RETRY_MS = 30_000;

/**
 * A free VNI of the tunnel type's range, scanning from a random start (`random` in [0, 1)); undefined
 * when the range is full. At most taken.size + 1 values are looked at: one of them must be free.
 */
export function pickVNI(tunnel: TunnelType, taken: VPCObservation["taken"], random: number): number | undefined {
  const { min, max } = VNI_RANGE[tunnel];
  const size = max - min + 1;
  const start = Math.min(size - 1, Math.floor(random * size));
  for (let i = 0; i < Math.min(size, taken.size + 1); i++) {
    const vni = min + ((start + i) % size);
    if (!taken.has(vni)) return vni;
  }
  return undefined;
}

/** The VNIClaim for `vni` held by `vpc`. */
export function vniClaim(vpc: VPCObj, vni: number) {
  return {
    apiVersion: `${VNIClaimRef.group}/${VNIClaimRef.version}`, kind: VNIClaimRef.kind,
    metadata: { name: String(vni), labels: { "network.cellcloud.io/vpc": vpc.metadata.name } },
    spec: { holder: { kind: "VPC", namespace: vpc.metadata.namespace ?? "", name: vpc.metadata.name, uid: vpc.metadata.uid ?? "" } },
  };
}

// by uid: a claim of that number made since (by another VPC) is not ours to delete
const release = (claims: VPCObservation["held"]): Action[] => claims.map((c) => ({ verb: "delete", ref: VNIClaimRef, name: String(c.vni), uid: c.uid }));

export function vpcPlan(vpc: VPCObj, o: VPCObservation, random: number): Plan {
  const { tunnelType: tunnel, vni: wanted } = vpc.spec;
  // Already held (a crash after the claim, or the steady state): keep the wanted one, else the one
  // status already shows (network agents may have programmed it), else the oldest; release any extra.
  const shown = vpc.status?.vni;
  const keep = (wanted !== undefined ? o.held.find((c) => c.vni === wanted) : o.held.find((c) => c.vni === shown) ?? o.held[0])?.vni;
  if (keep !== undefined) {
    return {
      actions: release(o.held.filter((c) => c.vni !== keep)),
      status: {
        fields: { vni: keep },
        conditions: [{ type: "Ready", status: "True", reason: "VNIAllocated", message: `VNI ${keep} (${tunnel})` }],
      },
    };
  }
  if (wanted !== undefined && o.taken.has(wanted)) {
    return {
      actions: release(o.held),
      status: {
        fields: { vni: undefined },
        conditions: [{ type: "Ready", status: "False", reason: "VNIInUse", message: `spec.vni: VNI ${wanted} is held by another VPC; choose another or leave spec.vni empty`, announce: "Warning" }],
      },
      requeueAfterMs: VNI_RETRY_MS,
    };
  }
  const vni = wanted ?? pickVNI(tunnel, o.taken, random);
  if (vni === undefined) {
    return {
      status: { conditions: [{ type: "Ready", status: "False", reason: "VNIsExhausted", message: `every ${tunnel} VNI is held (${VNI_RANGE[tunnel].min}-${VNI_RANGE[tunnel].max})`, announce: "Warning" }] },
      requeueAfterMs: VNI_RETRY_MS,
    };
  }
  return {
    actions: [{ verb: "create", ref: VNIClaimRef, object: vniClaim(vpc, vni) }],
    // "exists": another VPC got there first (or our own claim the cache has not shown yet): look again
    status: (outcomes) => outcomes[0]?.result === "created"
      ? { fields: { vni }, conditions: [{ type: "Ready", status: "True", reason: "VNIAllocated", message: `VNI ${vni} (${tunnel})` }] }
      : { conditions: [{ type: "Ready", status: "False", reason: "Allocating", message: `VNI ${vni} was taken meanwhile; picking another` }] },
    // a taken VNI's claim event goes to its holder, not here: look again soon either way
    requeueAfterMs: 500,
  };
}

/** Deleting: once the subnets are gone, the claims go, then the finalizer. */
export function vpcFinalize(o: VPCObservation): Plan {
  const subnets = o.subnets ?? [];
  if (subnets.length) {
    return {
      done: false,
      status: { conditions: [{ type: "Ready", status: "False", reason: "InUse", message: `cannot delete: Subnet(s) ${nameList(subnets)} are in this VPC; delete them first`, announce: "Warning" }] },
      requeueAfterMs: 10_000,
    };
  }
  if (!o.held.length) return { done: true };
  return { actions: release(o.held), done: (outcomes) => outcomes.every((x) => x.result === "deleted" || x.result === "gone") };
}
