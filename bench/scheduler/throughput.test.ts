import { describe, expect, it } from "vitest";
import { percentile, ScheduledCounter, serverSideBinds, summarizeLatency, summarizeThroughput, throughputRates, type Sample } from "./throughput.ts";

const ticks = (counts: number[], stepMs = 1000): Sample[] => counts.map((scheduled, i) => ({ atMs: (i + 1) * stepMs, scheduled }));

describe("throughputRates (scheduler_perf's throughputCollector)", () => {
  it("ignores ticks before the first scheduled pod and drops the first sample after it", () => {
    // 0, 0 ignored; 30 is the dropped first sample; then +100, +200.
    expect(throughputRates(ticks([0, 0, 30, 130, 330])).rates).toEqual([100, 200]);
  });

  it("merges intervals without progress into the next one and records its rate once per interval", () => {
    // after the dropped first sample (10): +0, +0, +300 over 3 s → 100 pods/s recorded 3 times.
    expect(throughputRates(ticks([10, 10, 10, 310])).rates).toEqual([100, 100, 100]);
  });

  it("divides by the actual elapsed time, not the nominal second, and flags irregular ticks", () => {
    const samples: Sample[] = [{ atMs: 1000, scheduled: 5 }, { atMs: 2000, scheduled: 105 }, { atMs: 3500, scheduled: 255 }];
    const { rates, irregular } = throughputRates(samples);
    expect(rates).toEqual([100, 100]);
    expect(irregular).toBe(1);
  });

  it("records nothing for trailing ticks after the last pod (the collector has stopped)", () => {
    expect(throughputRates(ticks([50, 150, 150, 150])).rates).toEqual([100]);
  });

  it("records nothing when everything was scheduled within one sample", () => {
    const s = summarizeThroughput(ticks([500]));
    expect(s.rates).toEqual([]);
    expect(Number.isNaN(s.average)).toBe(true);
  });
});

describe("summaries", () => {
  it("uses upstream's percentile index ceil(n*p/100)-1", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 90)).toBe(9);
    expect(percentile(sorted, 99)).toBe(10);
    expect(percentile([7], 1)).toBe(7);
  });

  it("averages and ranks the recorded rates", () => {
    const s = summarizeThroughput(ticks([1, 101, 401, 601, 1601]));
    expect(s.rates).toEqual([100, 300, 200, 1000]);
    expect(s.average).toBe(400);
    expect(s.p50).toBe(200);
    expect(s.p90).toBe(1000);
  });

  it("summarizes latencies", () => {
    const l = summarizeLatency([30, 10, 20, 40]);
    expect(l).toEqual({ p50: 20, p90: 40, p99: 40, max: 40, n: 4 });
  });
});

describe("ScheduledCounter", () => {
  it("counts each pod once, when its nodeName becomes set", () => {
    const c = new ScheduledCounter();
    expect(c.observe("a", undefined)).toBe(false);
    expect(c.observe("a", "n1")).toBe(true);
    expect(c.observe("a", "n1")).toBe(false); // a later status update
    expect(c.observe("b", "n2")).toBe(true); // first seen already bound (an ADDED after a relist)
    expect(c.scheduled).toBe(2);
    c.forget("a");
    expect(c.scheduled).toBe(2);
  });
});

describe("serverSideBinds", () => {
  it("counts binds per whole second of the PodScheduled timestamps", () => {
    const r = serverSideBinds(["2026-01-01T00:00:01Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:03Z", "2026-01-01T00:00:04Z"]);
    expect(r).toEqual({ binds: 4, spanSeconds: 4, avgPerSecond: 1, perSecond: [2, 0, 1, 1] });
    expect(serverSideBinds([])).toBeUndefined();
  });
});
