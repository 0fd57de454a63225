// Quota usage as Prometheus gauges (the Grafana "Quota" dashboard): one series per quota and
// dimension, so their number grows with quotas, never with the objects they count.
import { Gauge, type Registry } from "prom-client";
import { dimensions, type Amounts, type Dimension } from "../api/tenancy.ts";
import type { QuotaLimit } from "./ledger.ts";

export interface QuotaSample {
  resource: Dimension;
  used: number;
  reserved: number;
  /** Absent when the quota does not limit this dimension. */
  hard?: number;
}

/** A ledger amount as a plain number: cpu in cores (the ledger keeps millicores), memory and storage in bytes, the rest counts. */
export const plainAmount = (dim: Dimension, n: number): number => (dim === "cpu" ? n / 1000 : n);

/** What a quota shows per dimension: every dimension it limits (used 0 included), and any other its tree uses or reserves. */
export function quotaSamples(limit: Pick<QuotaLimit, "hard">, used: Amounts, reserved: Amounts): QuotaSample[] {
  return dimensions.filter((d) => limit.hard[d] !== undefined || used[d] || reserved[d]).map((d) => ({
    resource: d,
    used: plainAmount(d, used[d] ?? 0),
    reserved: plainAmount(d, reserved[d] ?? 0),
    ...(limit.hard[d] !== undefined ? { hard: plainAmount(d, limit.hard[d]!) } : {}),
  }));
}

type Label = "quota" | "tenant" | "zone" | "architecture" | "resource";
type Shown = { base: Record<Exclude<Label, "resource">, string>; resources: Set<Dimension> };

export class QuotaMetrics {
  private readonly used: Gauge<Label>;
  private readonly reserved: Gauge<Label>;
  private readonly hard: Gauge<Label>;
  private readonly shown = new Map<string, Shown>();

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = ["quota", "tenant", "zone", "architecture", "resource"] as const;
    const units = "cpu in cores, memory and storage in bytes, the rest as counts; zone and architecture empty when the quota spans all";
    this.used = new Gauge({ name: "cellcloud_quota_used", help: `Committed usage of a quota's tenant tree within its scope; ${units}`, labelNames, registers });
    this.reserved = new Gauge({ name: "cellcloud_quota_reserved", help: `Admitted creates not yet seen, per quota; ${units}`, labelNames, registers });
    this.hard = new Gauge({ name: "cellcloud_quota_hard", help: `A quota's limit per dimension it limits; ${units}`, labelNames, registers });
  }

  set(limit: QuotaLimit, used: Amounts, reserved: Amounts): void {
    const base = { quota: limit.name, tenant: limit.tenant, zone: limit.zone ?? "", architecture: limit.arch ?? "" };
    const before = this.shown.get(limit.name);
    // tenant, zone and architecture are immutable: only a recreated Quota changes them
    if (before && JSON.stringify(before.base) !== JSON.stringify(base)) this.remove(limit.name);
    const samples = quotaSamples(limit, used, reserved);
    const now = new Set(samples.map((s) => s.resource));
    for (const resource of this.shown.get(limit.name)?.resources ?? []) if (!now.has(resource)) this.removeOne(base, resource);
    for (const s of samples) {
      const labels = { ...base, resource: s.resource };
      this.used.set(labels, s.used);
      this.reserved.set(labels, s.reserved);
      if (s.hard !== undefined) this.hard.set(labels, s.hard);
      else this.hard.remove(labels);
    }
    this.shown.set(limit.name, { base, resources: now });
  }

  /** A deleted (or no longer enforced) quota's series go. */
  remove(quota: string): void {
    const s = this.shown.get(quota);
    if (!s) return;
    for (const resource of s.resources) this.removeOne(s.base, resource);
    this.shown.delete(quota);
  }

  private removeOne(base: Shown["base"], resource: Dimension): void {
    for (const g of [this.used, this.reserved, this.hard]) g.remove({ ...base, resource });
  }
}
