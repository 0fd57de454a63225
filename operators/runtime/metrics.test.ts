import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.ts";

describe("Metrics: the event recorder's backlog", () => {
  it("reports the writes pending and the events dropped as the manager's recorder counts them at scrape time", async () => {
    const m = new Metrics({ processMetrics: false });
    let stats = { pending: 0, dropped: 0 };
    m.eventStats = () => stats;
    expect(await m.registry.metrics()).toMatch(/^cellcloud_event_writes_pending 0$/m);
    stats = { pending: 1004, dropped: 7 };
    const text = await m.registry.metrics();
    expect(text).toMatch(/^cellcloud_event_writes_pending 1004$/m);
    expect(text).toMatch(/^cellcloud_events_dropped_total 7$/m);
  });
});
