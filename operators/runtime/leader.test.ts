import { describe, expect, it } from "vitest";
import { untilNextAttempt } from "./leader.ts";

describe("untilNextAttempt", () => {
  it("starts attempts every retry period from the previous start", () => {
    expect(untilNextAttempt(1_000, 1_500, 2_000)).toBe(1_500);
  });
  it("follows a slow renewal at once instead of sleeping a full period after it", () => {
    // The renewal that started at 1 s answered at 7 s: waiting 2 s more would leave 2 s of a 10 s deadline.
    expect(untilNextAttempt(1_000, 7_000, 2_000)).toBe(0);
  });
  it("does not retry a fast failure in a hot loop", () => {
    expect(untilNextAttempt(1_000, 1_010, 2_000)).toBe(1_990);
  });
});
