import { describe, expect, it } from "vitest";
import { Controller } from "./controller.ts";
import { newLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";

describe("Controller workers", () => {
  it("let timers and I/O run while a long queue of reconciles that need no I/O drains", async () => {
    // At 30,000 instances a lost fence made every reconcile fail before any I/O; the workers then ran
    // the whole queue in microtasks and the lease renewal's timers never fired.
    let reconciled = 0;
    const c = new Controller({
      name: "starve", log: newLogger("silent"), metrics: new Metrics({ processMetrics: false }), concurrency: 16,
      reconcile: async () => { reconciled++; },
    });
    const keys = 20_000;
    for (let i = 0; i < keys; i++) c.enqueue(`ns/o-${i}`);
    c.start();
    const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(reconciled), 0));
    expect(atTimer).toBeLessThan(keys / 10);
    while (reconciled < keys) await new Promise((r) => setTimeout(r, 5));
    await c.stop();
    expect(reconciled).toBe(keys);
  });
});
