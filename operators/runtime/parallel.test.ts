import { describe, expect, it } from "vitest";
import { forEachLimit } from "./parallel.ts";

describe("forEachLimit", () => {
  it("never has more than `limit` calls in flight and visits every item once", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit(Array.from({ length: 100 }, (_, i) => i), 7, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, i % 3));
      seen.push(i);
      inFlight--;
    });
    expect(peak).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("keeps going past failures and returns them", async () => {
    const failed = await forEachLimit([1, 2, 3, 4], 2, async (i) => { if (i % 2 === 0) throw new Error(`no ${i}`); });
    expect(failed.map((f) => [f.item, (f.error as Error).message])).toEqual([[2, "no 2"], [4, "no 4"]]);
  });

  it("does nothing for no items", async () => {
    expect(await forEachLimit([], 4, async () => { throw new Error("never"); })).toEqual([]);
  });
});
