// Address management, after Kubernetes' IPAddress allocator (KEP-1880): an address is held by one
// IPAllocation object named <scope>.<address>, so the apiserver's create is the lock and nothing is
// persisted "after the fact" (how Kube-OVN and MetalLB came to hand out duplicates). This file is
// the pure part every consumer shares (instance NICs, elastic IPs, load balancer VIPs):
//   - address spaces: which addresses of a subnet or pool may be handed out (CIDR math by cidr-tools);
//   - picking: a free address from a random start, so two managers (or a stale cache) rarely race;
//   - planning: for each address an owner wants (a "slot"), keep the one held, create one, or say why
//     not; an address moves (a new subnet, a new fixed IP) only after the new one is held.
import { excludeCidr, parseCidr } from "cidr-tools";
import { parseIp, stringifyIp } from "ip-bigint";
import { allocationName, IPAllocationRef, type IPAllocationObj, type IPAllocationSpec, type SubnetSpec } from "../api/network.ts";
import type { ExternalIPPoolSpec } from "../api/platform.ts";
import type { Action, Outcome } from "./actions.ts";
import type { Manager } from "./manager.ts";

/** The canonical text of an IPv4 or IPv6 address; undefined when it is not one. */
export function canonicalIP(ip: string): string | undefined {
  try {
    return stringifyIp(parseIp(ip));
  } catch {
    return undefined;
  }
}

interface Range {
  start: bigint;
  end: bigint;
}

/** The addresses that may be handed out, as sorted disjoint ranges. */
export class AddressSpace {
  readonly ranges: readonly Range[];
  readonly size: number;
  private readonly version: 4 | 6;

  constructor(include: readonly string[], exclude: readonly string[] = []) {
    const blocks = include.length ? excludeCidr([...include], exclude.filter((e) => canonicalIP(e.split("/")[0]!) !== undefined)) : [];
    this.ranges = blocks.map((c) => parseCidr(c)).map((p) => ({ start: p.start, end: p.end })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.size = this.ranges.reduce((n, r) => n + Number(r.end - r.start + 1n), 0);
    this.version = include.length && parseCidr(include[0]!).version === 6 ? 6 : 4;
  }

  contains(ip: string): boolean {
    const n = number(ip);
    return n !== undefined && this.ranges.some((r) => n >= r.start && n <= r.end);
  }

  /** The i-th address of the space (0 ≤ i < size). */
  at(i: number): string {
    let left = BigInt(i);
    for (const r of this.ranges) {
      const n = r.end - r.start + 1n;
      if (left < n) return stringifyIp({ number: r.start + left, version: this.version });
      left -= n;
    }
    throw new RangeError(`address ${i} of a space of ${this.size}`);
  }
}

function number(ip: string): bigint | undefined {
  try {
    return parseIp(ip).number;
  } catch {
    return undefined;
  }
}

/** The first and last address of a CIDR (its network and broadcast addresses for IPv4). */
function bounds(cidr: string): { first: string; last: string; prefix: number } {
  const p = parseCidr(cidr);
  return { first: stringifyIp({ number: p.start, version: p.version }), last: stringifyIp({ number: p.end, version: p.version }), prefix: Number(p.prefix) };
}

/** A subnet's gateway: spec.gateway, else the block's first usable address. */
export function subnetGateway(spec: Pick<SubnetSpec, "cidrBlock" | "gateway">): string {
  const p = parseCidr(spec.cidrBlock);
  return spec.gateway ? (canonicalIP(spec.gateway) ?? spec.gateway) : stringifyIp({ number: p.start + 1n, version: p.version });
}

/** What a subnet hands out: its block minus network, broadcast, gateway and the excluded addresses. */
export function subnetSpace(spec: Pick<SubnetSpec, "cidrBlock" | "gateway" | "excludedIPs">): AddressSpace {
  const b = bounds(spec.cidrBlock);
  return new AddressSpace([spec.cidrBlock], [b.first, b.last, subnetGateway(spec), ...(spec.excludedIPs ?? [])]);
}

/** The prefix length of a subnet's block, for a NIC's address (10.0.1.5/24). */
export const prefixLength = (cidr: string): number => bounds(cidr).prefix;

/** What an external pool hands out: its blocks (without network and broadcast below a /31) minus the excluded addresses. */
export function poolSpace(spec: Pick<ExternalIPPoolSpec, "cidrs" | "excludedIPs">): AddressSpace {
  const edges = spec.cidrs.map(bounds).filter((b) => b.prefix < 31).flatMap((b) => [b.first, b.last]);
  return new AddressSpace(spec.cidrs, [...edges, ...(spec.excludedIPs ?? [])]);
}

/** Why a requested address cannot be had from a subnet (outside it, its gateway, excluded), if it cannot. */
export function fixedIPProblem(spec: SubnetSpec, ip: string, field: string): string | undefined {
  const b = bounds(spec.cidrBlock);
  const inside = new AddressSpace([spec.cidrBlock]).contains(ip);
  if (!inside) return `${field}: ${ip} is outside subnet ${spec.cidrBlock}`;
  if (ip === subnetGateway(spec)) return `${field}: ${ip} is the subnet's gateway`;
  if (ip === b.first || ip === b.last) return `${field}: ${ip} is the subnet's ${ip === b.first ? "network" : "broadcast"} address`;
  if (!subnetSpace(spec).contains(ip)) return `${field}: ${ip} is in the subnet's spec.excludedIPs`;
  return undefined;
}

/**
 * A MAC for a NIC, derived from its address as OVN-Kubernetes does (0a:58 + the IPv4 bytes): locally
 * administered, unicast, and unique wherever the address is (within a VPC), with no second lock.
 */
export function macFor(ip: string): string {
  const n = number(ip) ?? 0n;
  const bytes = [0x0a, 0x58, ...[24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * A free address of `space`, scanning from a random start (`random` in [0, 1)); undefined when none
 * is. `taken` says whether an address is held; `bound` is how many are held in all (at most that many
 * + 1 addresses are looked at before a free one must have been met).
 */
export function pickAddress(space: AddressSpace, taken: (ip: string) => boolean, bound: number, random: number): string | undefined {
  if (space.size === 0) return undefined;
  const start = Math.min(space.size - 1, Math.floor(random * space.size));
  for (let i = 0; i < Math.min(space.size, bound + 1); i++) {
    const ip = space.at((start + i) % space.size);
    if (!taken(ip)) return ip;
  }
  return undefined;
}

// ==================== planning ====================

/** One address an owner wants. */
export interface AddressWant {
  /** Which of the owner's addresses: nic-0, eip, vip. */
  slot: string;
  /** The address space (allocation names are <scope>.<address>). */
  scope: string;
  /** Where the address must be. */
  space: AddressSpace;
  /** A specific address, canonical; checked against `space` by the caller (its messages name the field). */
  fixed?: string;
  /** What the allocation records besides the address: its subnet or pool. */
  record: Pick<IPAllocationSpec, "subnet" | "pool">;
  /** The field the want comes from, for messages: spec.nics[0]. */
  field: string;
  /** Name of the subnet or pool, for messages. */
  from: string;
}

export interface AddressOwner {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

/** What the caches show for one owner. */
export interface AddressObservation {
  /** Allocations held by the owner (by its uid), with their own uids and creation times. */
  held: ReadonlyArray<Pick<IPAllocationObj, "metadata" | "spec">>;
  /** The address each slot's status shows now, if any. */
  shown: Readonly<Record<string, { scope: string; address: string } | undefined>>;
  /** The uid of the owner of the allocation of that name, if the cache has one. */
  holderOf(name: string): string | undefined;
  /** How many allocations exist (bounds a scan for a free address). */
  count: number;
}

export type SlotState =
  | { slot: string; state: "held"; address: string }
  | { slot: string; state: "problem"; reason: string; message: string; stalled: boolean; address?: string };

export interface AddressPlan {
  /** Creates, one per slot being allocated: before the status write (status shows only what is held). */
  creates: Action[];
  /**
   * Releases (by uid), never of what the owner's status shows: the managed runtime's `afterStatus`,
   * so a stale view cannot release an address a newer status shows.
   */
  releases: Action[];
  /** Each wanted slot's state once the actions ran, given what they met. */
  slots(outcomes: readonly Outcome[]): SlotState[];
  /** Whether an allocation is being attempted (look again soon if it lost a race). */
  allocating: boolean;
}

/** When a wanted address is held by someone else, how long until the owner looks again. */
export const ADDRESS_RETRY_MS = 30_000;

export function allocationObject(owner: AddressOwner, want: AddressWant, address: string, mac?: string) {
  return {
    apiVersion: `${IPAllocationRef.group}/${IPAllocationRef.version}`, kind: IPAllocationRef.kind,
    metadata: { name: allocationName(want.scope, address), labels: { "network.cellcloud.io/owner-kind": owner.kind.toLowerCase() } },
    spec: { address, scope: want.scope, ...want.record, slot: want.slot, ...(mac ? { mac } : {}), owner: { ...owner } },
  };
}

/** Releases an allocation, by its uid: one made since for the same address is not ours to delete. */
export const releaseAllocation = (a: Pick<IPAllocationObj, "metadata">): Action => ({ verb: "delete", ref: IPAllocationRef, name: a.metadata.name, uid: a.metadata.uid });

/**
 * For each slot: keep the fitting allocation held (the one status shows, else the oldest) and release
 * the rest; else re-take the address status shows (its allocation was lost: the owner repairs it,
 * unless another holds it, which is a conflict reported, never resolved silently); else create one
 * (the fixed address, or a free one). An allocation that no longer fits (another subnet or fixed IP)
 * is released only once the new one is held. Slots neither wanted nor kept are released.
 */
export function planAddresses(
  owner: AddressOwner, wants: readonly AddressWant[], o: AddressObservation, random: number, mac?: (ip: string) => string, keep: ReadonlySet<string> = new Set(),
): AddressPlan {
  const creates: Array<{ index: number; slot: string; address: string; retake?: boolean }> = [];
  const releases: Action[] = [];
  const fixedStates: Array<SlotState | undefined> = [];
  const picked = new Set<string>();
  const wanted = new Set(wants.map((w) => w.slot));
  // a slot not wanted is released, unless the caller keeps it (its subnet is briefly not ready)
  for (const a of o.held) if (!wanted.has(a.spec.slot) && !keep.has(a.spec.slot)) releases.push(releaseAllocation(a));

  for (const [i, w] of wants.entries()) {
    const mine = o.held.filter((a) => a.spec.slot === w.slot)
      .sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") || a.metadata.name.localeCompare(b.metadata.name));
    const fits = (scope: string, address: string) => scope === w.scope && w.space.contains(address) && (!w.fixed || address === w.fixed);
    const shown = o.shown[w.slot];
    const fitting = mine.filter((a) => fits(a.spec.scope, a.spec.address));
    const keeper = fitting.find((a) => a.spec.address === shown?.address) ?? fitting[0];
    if (keeper) {
      for (const a of mine) if (a !== keeper) releases.push(releaseAllocation(a));
      fixedStates[i] = { slot: w.slot, state: "held", address: keeper.spec.address };
      continue;
    }
    if (shown && fits(shown.scope, shown.address)) {
      const holder = o.holderOf(allocationName(shown.scope, shown.address));
      if (holder === undefined) {
        // the allocation of an address in use is missing (deleted, or not cached yet): take it again;
        // held only if the create says so ("exists" may be ours, not cached yet, or another's)
        creates.push({ index: i, slot: w.slot, address: shown.address, retake: true });
        picked.add(shown.address);
      } else if (holder !== owner.uid) {
        fixedStates[i] = {
          slot: w.slot, state: "problem", reason: "AddressConflict", stalled: false, address: shown.address,
          message: `${w.field}: ${shown.address} is in use here but its IPAllocation is held by another object; release one of them`,
        };
      } else {
        fixedStates[i] = { slot: w.slot, state: "held", address: shown.address };
      }
      continue;
    }
    let address = w.fixed;
    if (address !== undefined && (o.holderOf(allocationName(w.scope, address)) !== undefined || picked.has(address))) {
      fixedStates[i] = { slot: w.slot, state: "problem", reason: "AddressInUse", stalled: false, message: `${w.field}.fixedIP: ${address} is held by another object in ${w.from}` };
      continue;
    }
    address ??= pickAddress(w.space, (ip) => picked.has(ip) || o.holderOf(allocationName(w.scope, ip)) !== undefined, o.count + picked.size, random);
    if (address === undefined) {
      fixedStates[i] = { slot: w.slot, state: "problem", reason: "AddressesExhausted", stalled: false, message: `${w.field}: ${w.from} has no free address` };
      continue;
    }
    picked.add(address);
    creates.push({ index: i, slot: w.slot, address });
  }

  return {
    creates: creates.map((c): Action => ({ verb: "create", ref: IPAllocationRef, object: allocationObject(owner, wants[c.index]!, c.address, mac?.(c.address)) })),
    releases,
    allocating: creates.length > 0,
    slots: (outcomes) => wants.map((w, i) => {
      const known = fixedStates[i];
      if (known) return known;
      const k = creates.findIndex((c) => c.index === i);
      const c = creates[k]!;
      const result = outcomes[k]?.result;
      if (result === "created") return { slot: w.slot, state: "held", address: c.address };
      // an address in use keeps showing until the next look says whose allocation it is (ours: held; another's: AddressConflict)
      if (c.retake) return { slot: w.slot, state: "problem", reason: "AllocatingAddress", stalled: false, address: c.address, message: `${w.field}: taking ${c.address} again (its IPAllocation was missing)` };
      return { slot: w.slot, state: "problem", reason: "AllocatingAddress", stalled: false, message: `${w.field}: ${c.address} was taken meanwhile; picking another` };
    }),
  };
}

// ==================== the shared cache ====================

const BY_OWNER = "network.cellcloud.io/allocation-owner";
const BY_SUBNET = "network.cellcloud.io/allocation-subnet";
const byOwner = (a: IPAllocationObj) => [a.spec.owner.uid];
const bySubnet = (a: IPAllocationObj) => (a.spec.subnet ? [`${a.spec.owner.namespace}/${a.spec.subnet}`] : []);

/** The IPAllocation cache every consumer shares, indexed by owner uid and by subnet (namespace/name). */
export function allocationCache(mgr: Manager) {
  const cache = mgr.informer<IPAllocationObj>(IPAllocationRef);
  cache.addIndexer(BY_OWNER, byOwner);
  cache.addIndexer(BY_SUBNET, bySubnet);
  return {
    cache,
    ofOwner: (uid: string) => cache.byIndex(BY_OWNER, uid),
    ofSubnet: (key: string) => cache.byIndex(BY_SUBNET, key),
    holderOf: (name: string) => cache.get(name)?.spec.owner.uid,
  };
}
export type AllocationCache = ReturnType<typeof allocationCache>;
