// bench/billing's fleet (pure): tenants, instances with their data volumes and ElasticIPs, the
// lifecycle events metering would record for them over one month, and the price lists. Seeded, so
// two runs at the same scale bill exactly the same usage.
import { meter, type Meter, type PriceListObj } from "../../operators/api/billing.ts";
import type { FlavorSpec, ImageSpec, InstanceObj } from "../../operators/api/compute.ts";
import type { TenantSpec } from "../../operators/api/tenancy.ts";
import { chainOf, switchOf } from "../../operators/billing/books.ts";
import { metersHash } from "../../operators/billing/ledger.ts";
import { HOUR_MS, priceBook, type PriceBook } from "../../operators/billing/price.ts";
import { meterKey, type UsageEvent } from "../../operators/billing/rating.ts";
import { instanceMeters } from "../../operators/compute/pricing.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";

/** What metering hands to recordEvent. */
export type SeedEvent = Omit<UsageEvent, "seq" | "resourceId">;
export type TenantObj = KubeObject & { spec: TenantSpec };

/** mulberry32: a small seeded PRNG, so a run's fleet is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONES = ["az1", "az2", "az3"] as const;
/** Flavors per architecture, smallest first (a resize moves one step up). */
export const FLAVORS: Record<"amd64" | "arm64", Array<{ name: string; vcpus: number; memory: string }>> = {
  amd64: [
    { name: "c6.large", vcpus: 2, memory: "4Gi" }, { name: "c6.xlarge", vcpus: 4, memory: "8Gi" },
    { name: "m6.xlarge", vcpus: 4, memory: "16Gi" }, { name: "c6.2xlarge", vcpus: 8, memory: "16Gi" }, { name: "m6.2xlarge", vcpus: 8, memory: "32Gi" },
  ],
  arm64: [
    { name: "k1.large", vcpus: 2, memory: "4Gi" }, { name: "k1.xlarge", vcpus: 4, memory: "8Gi" }, { name: "k1.2xlarge", vcpus: 8, memory: "16Gi" },
  ],
};
const DISK_TYPES = ["SSD", "SSD", "SSD", "SAS"] as const;
const VOLUME_TYPES = ["SSD", "SAS", "ESSD"] as const;
const BANDWIDTHS = [5, 10, 20, 50, 100, 200] as const;

/** How often each mid-month change happens (per instance, volume or ElasticIP). */
export const CHANGES = { stop: 0.1, restartAfterStop: 0.5, resize: 0.05, deleteInstance: 0.03, bandwidth: 0.2, expandVolume: 0.05 } as const;

export interface Fleet {
  month: string;
  start: number;
  end: number;
  tenants: TenantObj[];
  instances: number;
  volumes: number;
  eips: number;
  /** Every event, in the order metering would record them (by time; creates first). */
  events: SeedEvent[];
  /** Instances per tenant (tenants are Zipf-sized: the largest has ~1/5 of the fleet at 100 tenants). */
  perTenant: Map<string, number>;
}

const pad = (n: number, w: number) => String(n).padStart(w, "0");
export const tenantName = (i: number) => `t-${pad(i, 3)}`;

/** A UUID-shaped uid (what Kubernetes gives an object), from the PRNG. */
function uid(r: () => number): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

/**
 * The fleet: `instances` instances (3 of 5 amd64, 2 of 5 arm64, in 3 zones, a few flavors) over
 * `tenants` tenants (Zipf-sized; every fifth tenant from the 80th on is a department of one of the
 * first), a quarter with a data Volume, a quarter with an ElasticIP. All are created in the month's
 * first hour; during the month some stop (half of them start again), resize, are deleted (with their
 * volume), change bandwidth or expand a volume. Events are what metering records: one per change of
 * the metered state, id <uid>/<generation>/<transition>.
 */
export function fleet(opts: { instances: number; tenants: number; month: string; seed?: number }): Fleet {
  const r = rng(opts.seed ?? 20261001);
  const [y, m] = opts.month.split("-").map(Number) as [number, number];
  const start = Date.UTC(y, m - 1, 1), end = Date.UTC(y, m, 1);
  const sec = (ms: number) => Math.floor(ms / 1000) * 1000;
  const inMonth = () => sec(start + HOUR_MS + r() * (end - start - 2 * HOUR_MS));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;

  const tenants: TenantObj[] = Array.from({ length: opts.tenants }, (_, i) => ({
    apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "Tenant", metadata: { name: tenantName(i) },
    spec: { ...(i >= 80 && i % 5 === 0 ? { parent: tenantName(i % 10) } : {}), namespaces: [tenantName(i)] } as TenantSpec,
  }));
  // Zipf weights: tenant i gets 1/(i+1) of the share
  const weights = tenants.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, w) => a + w, 0);
  const cumulative: number[] = [];
  weights.reduce((a, w, i) => (cumulative[i] = a + w / total), 0);
  const tenantOf = () => { const x = r(); const i = cumulative.findIndex((c) => x < c); return tenants[i < 0 ? tenants.length - 1 : i]!.metadata.name; };

  const events: SeedEvent[] = [];
  const perTenant = new Map<string, number>();
  let volumes = 0, eips = 0;
  // one resource's metered states over time → the events metering records (only changes of the hash)
  const emit = (base: Omit<SeedEvent, "id" | "at" | "meters">, states: Array<{ at: number; generation: number; meters: Meter[]; deleted?: boolean }>) => {
    let prev: string | undefined;
    for (const s of states.sort((a, b) => a.at - b.at)) {
      const hash = metersHash(s.meters);
      if (prev === undefined ? s.meters.length === 0 : prev === hash) continue;
      const transition = prev === undefined ? "create" : s.deleted ? "delete" : `change-${hash.slice(0, 8)}`;
      events.push({ ...base, id: `${base.resourceUid}/${s.generation}/${transition}`, at: s.at, meters: s.meters });
      prev = hash;
      if (s.deleted) break;
    }
  };

  for (let i = 0; i < opts.instances; i++) {
    const tenant = tenantOf();
    perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + 1);
    const arch = r() < 0.6 ? "amd64" : "arm64";
    const zone = pick(ZONES);
    const flavors = FLAVORS[arch];
    let size = Math.floor(r() * (flavors.length - 1));
    const disk = { sizeGiB: 40, type: pick(DISK_TYPES) };
    const created = sec(start + r() * HOUR_MS);
    const image = { architecture: arch, minDiskGiB: 40 } as ImageSpec;
    const metersOf = (flavor: number, running: boolean) => {
      const f = flavors[flavor]!;
      const vm = { metadata: { name: `vm-${pad(i, 6)}`, namespace: tenant }, spec: { flavor: f.name, image: "bench", zone, systemDisk: disk, powerState: running ? "Running" : "Stopped" }, status: { zone } } as unknown as InstanceObj;
      return instanceMeters(vm, { flavor: { vcpus: f.vcpus, memory: f.memory } as FlavorSpec, image });
    };
    // the instance's spec changes, in time order
    const changes: Array<{ at: number; what: "stop" | "start" | "resize" | "delete" }> = [];
    if (r() < CHANGES.stop) {
      const stop = inMonth();
      changes.push({ at: stop, what: "stop" });
      if (r() < CHANGES.restartAfterStop) changes.push({ at: Math.min(sec(stop + HOUR_MS + r() * 5 * 24 * HOUR_MS), end - 1000), what: "start" });
    }
    if (r() < CHANGES.resize) changes.push({ at: inMonth(), what: "resize" });
    const deleted = r() < CHANGES.deleteInstance ? inMonth() : undefined;
    if (deleted !== undefined) changes.push({ at: deleted, what: "delete" });
    changes.sort((a, b) => a.at - b.at);
    let generation = 1, running = true;
    const states: Array<{ at: number; generation: number; meters: Meter[]; deleted?: boolean }> = [{ at: created, generation, meters: metersOf(size, true) }];
    for (const c of changes) {
      const at = Math.max(c.at, created + 1000);
      if (c.what === "delete") { states.push({ at, generation, meters: [], deleted: true }); break; }
      generation++;
      if (c.what === "stop") running = false;
      else if (c.what === "start") running = true;
      else size = Math.min(size + 1, flavors.length - 1);
      states.push({ at, generation, meters: metersOf(size, running) });
    }
    const vmUid = uid(r);
    emit({ resourceUid: vmUid, tenant, namespace: tenant, kind: "Instance", name: `vm-${pad(i, 6)}` }, states);

    if (r() < 0.25) {
      volumes++;
      const type = pick(VOLUME_TYPES);
      let sizeGiB = 100 + 50 * Math.floor(r() * 19);
      const vol = (gib: number) => [meter("evs", "disk.GiB-hour", gib, { zone, variant: type })];
      const vs: Array<{ at: number; generation: number; meters: Meter[]; deleted?: boolean }> = [{ at: created, generation: 1, meters: vol(sizeGiB) }];
      if (r() < CHANGES.expandVolume) { sizeGiB *= 2; vs.push({ at: inMonth(), generation: 2, meters: vol(sizeGiB) }); }
      if (deleted !== undefined) vs.push({ at: Math.max(deleted, created + 1000) + 1000, generation: vs.length, meters: [], deleted: true });
      emit({ resourceUid: uid(r), tenant, namespace: tenant, kind: "Volume", name: `vol-${pad(i, 6)}` }, vs);
    }
    if (r() < 0.25) {
      eips++;
      const eip = (mbps: number) => [meter("eip", "eip.Mbps-hour", mbps)];
      const es: Array<{ at: number; generation: number; meters: Meter[] }> = [{ at: created, generation: 1, meters: eip(pick(BANDWIDTHS)) }];
      if (r() < CHANGES.bandwidth) es.push({ at: inMonth(), generation: 2, meters: eip(pick(BANDWIDTHS)) });
      emit({ resourceUid: uid(r), tenant, namespace: tenant, kind: "ElasticIP", name: `eip-${pad(i, 6)}` }, es);
    }
  }
  // the order metering records them in: by time (a stable sort keeps creation order among equals)
  events.sort((a, b) => a.at - b.at);
  return { month: opts.month, start, end, tenants, instances: opts.instances, volumes, eips, events, perTenant };
}

const list = (name: string, items: PriceListObj["spec"]["items"], extra: Partial<PriceListObj["spec"]> = {}): PriceListObj => ({
  apiVersion: "billing.cellcloud.io/v1alpha1", kind: "PriceList", metadata: { name },
  spec: { currency: "CNY", scale: 1_000_000, effectiveFrom: "2026-01-01T00:00:00Z", discountBasisPoints: 0, items, ...extra },
});

/**
 * The price lists: a global list pricing every meter (some by zone, architecture, flavor or volume
 * type, as the most specific item wins), and overrides with a discount for three large tenants
 * (their departments inherit them).
 */
export function priceLists(): PriceListObj[] {
  const flavorItems = Object.values(FLAVORS).flat().map((f) => ({ product: "ecs" as const, meter: "instance.flavor-hour" as const, variant: f.name, unitPrice: 1000 * f.vcpus }));
  const global = list("standard-2026", [
    { product: "ecs", meter: "cpu.core-hour", unitPrice: 60_000 },
    { product: "ecs", meter: "cpu.core-hour", arch: "arm64", unitPrice: 45_000 },
    { product: "ecs", meter: "cpu.core-hour", zone: "az3", arch: "amd64", unitPrice: 55_000 },
    { product: "ecs", meter: "memory.GiB-hour", unitPrice: 8_000 },
    { product: "ecs", meter: "memory.GiB-hour", arch: "arm64", unitPrice: 7_000 },
    { product: "ecs", meter: "instance.flavor-hour", unitPrice: 2_000 },
    ...flavorItems,
    { product: "ecs", meter: "disk.GiB-hour", unitPrice: 200 },
    { product: "ecs", meter: "disk.GiB-hour", variant: "SSD", unitPrice: 300 },
    { product: "ecs", meter: "disk.GiB-hour", variant: "SAS", unitPrice: 150 },
    { product: "evs", meter: "disk.GiB-hour", unitPrice: 200 },
    { product: "evs", meter: "disk.GiB-hour", variant: "SSD", unitPrice: 350 },
    { product: "evs", meter: "disk.GiB-hour", variant: "SAS", unitPrice: 150 },
    { product: "evs", meter: "disk.GiB-hour", variant: "ESSD", unitPrice: 700 },
    { product: "eip", meter: "eip.Mbps-hour", unitPrice: 25_000 },
    { product: "slb", meter: "slb.node-hour", unitPrice: 120_000 },
    { product: "rds", meter: "db.node-hour", unitPrice: 300_000 },
    { product: "mq", meter: "mq.node-hour", unitPrice: 250_000 },
  ]);
  return [
    global,
    list("t-000-2026", [{ product: "ecs", meter: "cpu.core-hour", unitPrice: 50_000 }], { tenant: "t-000", discountBasisPoints: 1000 }),
    list("t-001-2026", [], { tenant: "t-001", discountBasisPoints: 500 }),
    list("t-002-2026", [{ product: "eip", meter: "eip.Mbps-hour", unitPrice: 20_000 }], { tenant: "t-002", discountBasisPoints: 250 }),
  ];
}

/** What prices a tenant's hour, exactly as the manager's Books.book does (no caching). */
export function bookFor(lists: readonly PriceListObj[], tenants: readonly TenantObj[]): (tenant: string, hour: number) => PriceBook | undefined {
  const byName = new Map(tenants.map((t) => [t.metadata.name, t]));
  const get = (n: string) => byName.get(n);
  return (tenant, at) => {
    const chain = chainOf(get, tenant);
    return priceBook(lists, chain, at, switchOf(get, chain, "pricing"));
  };
}

/**
 * How many usage rows rating [from, to) writes for these events (exactly, when no event is late):
 * one per resource, meter and hour in which the meter was used for at least a second. Events must
 * be in time order.
 */
export function expectedRows(events: readonly SeedEvent[], from: number, to: number): number {
  let rows = 0;
  for (const evs of Map.groupBy(events, (e) => e.resourceUid).values()) {
    const counted = new Map<string, number>(); // meter → the last hour already counted
    for (let i = 0; i < evs.length; i++) {
      const a = Math.max(evs[i]!.at, from), b = Math.min(evs[i + 1]?.at ?? to, to);
      if (b <= a) continue;
      const h0 = Math.floor(a / HOUR_MS), h1 = Math.floor((b - 1) / HOUR_MS);
      for (const m of evs[i]!.meters) {
        const k = meterKey(m);
        const prev = counted.get(k) ?? -Infinity;
        const first = Math.max(h0, prev + 1);
        if (h1 >= first) rows += h1 - first + 1;
        counted.set(k, Math.max(prev, h1));
      }
    }
  }
  return rows;
}
