import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { QuotaMetrics, quotaSamples } from "./quota-metrics.ts";

const GiB = 1024 ** 3;

describe("quota samples", () => {
  it("shows cpu in cores, bytes and counts as they are, every limited dimension and any other in use", () => {
    const samples = quotaSamples({ hard: { cpu: 4000, memory: 8 * GiB, instances: 5 } }, { cpu: 2500, instances: 2, volumes: 1 }, { memory: GiB });
    expect(samples).toEqual([
      { resource: "cpu", used: 2.5, reserved: 0, hard: 4 },
      { resource: "memory", used: 0, reserved: GiB, hard: 8 * GiB },
      { resource: "instances", used: 2, reserved: 0, hard: 5 },
      { resource: "volumes", used: 1, reserved: 0 },
    ]);
  });
});

describe("quota gauges", () => {
  const lines = async (r: Registry) => (await r.metrics()).split("\n").filter((l) => l.startsWith("cellcloud_quota_"));

  it("keeps one series per quota and dimension, and drops a dimension no longer used or the whole quota", async () => {
    const r = new Registry();
    const m = new QuotaMetrics(r);
    const limit = { name: "q1", tenant: "acme", zone: "az1", hard: { cpu: 4000 } };
    m.set(limit, { cpu: 1000, volumes: 2 }, {});
    expect(await lines(r)).toEqual([
      'cellcloud_quota_used{quota="q1",tenant="acme",zone="az1",architecture="",resource="cpu"} 1',
      'cellcloud_quota_used{quota="q1",tenant="acme",zone="az1",architecture="",resource="volumes"} 2',
      'cellcloud_quota_reserved{quota="q1",tenant="acme",zone="az1",architecture="",resource="cpu"} 0',
      'cellcloud_quota_reserved{quota="q1",tenant="acme",zone="az1",architecture="",resource="volumes"} 0',
      'cellcloud_quota_hard{quota="q1",tenant="acme",zone="az1",architecture="",resource="cpu"} 4',
    ]);
    m.set(limit, { cpu: 500 }, {});
    expect((await lines(r)).filter((l) => l.includes("volumes"))).toEqual([]);
    m.remove("q1");
    expect(await lines(r)).toEqual([]);
  });
});
