import { describe, expect, it } from "vitest";
import type { Clock } from "./clock.ts";
import { getCondition, isTrue, setCondition, summarize } from "./conditions.ts";

const at = (iso: string): Clock => ({ now: () => Date.parse(iso) });

describe("setCondition", () => {
  it("adds a condition with observedGeneration and a second-precision transition time", () => {
    const c = setCondition([], { type: "Ready", status: "True", reason: "Ok" }, 3, at("2026-01-01T00:00:00.123Z"));
    expect(c).toEqual([
      { type: "Ready", status: "True", reason: "Ok", message: "", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 3 },
    ]);
  });

  it("keeps lastTransitionTime while the status is unchanged, even if reason and message change", () => {
    const a = setCondition([], { type: "Ready", status: "False", reason: "A", message: "a" }, 1, at("2026-01-01T00:00:00Z"));
    const b = setCondition(a, { type: "Ready", status: "False", reason: "B", message: "b" }, 2, at("2026-01-02T00:00:00Z"));
    expect(b[0]).toMatchObject({ reason: "B", message: "b", observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z" });
  });

  it("moves lastTransitionTime when the status changes", () => {
    const a = setCondition([], { type: "Ready", status: "False", reason: "A" }, 1, at("2026-01-01T00:00:00Z"));
    const b = setCondition(a, { type: "Ready", status: "True", reason: "Ok" }, 1, at("2026-01-02T00:00:00Z"));
    expect(b[0]?.lastTransitionTime).toBe("2026-01-02T00:00:00Z");
  });

  it("re-asserting the same condition yields an equal list and keeps the others in place", () => {
    const clock = at("2026-01-01T00:00:00Z");
    let c = setCondition([], { type: "Scheduled", status: "True", reason: "Placed" }, 1, clock);
    c = setCondition(c, { type: "Ready", status: "True", reason: "Ok" }, 1, clock);
    const again = setCondition(c, { type: "Scheduled", status: "True", reason: "Placed" }, 1, at("2027-01-01T00:00:00Z"));
    expect(again).toEqual(c);
    expect(again.map((x) => x.type)).toEqual(["Scheduled", "Ready"]);
  });

  it("does not mutate its input", () => {
    const a = setCondition([], { type: "Ready", status: "False", reason: "A" }, 1);
    const copy = structuredClone(a);
    setCondition(a, { type: "Ready", status: "True", reason: "B" }, 2);
    expect(a).toEqual(copy);
  });
});

describe("getCondition / isTrue / summarize", () => {
  const conds = [
    { type: "Scheduled", status: "True" as const, reason: "Placed", message: "", lastTransitionTime: "x" },
    { type: "Bound", status: "False" as const, reason: "VolumeMissing", message: "volume data-1 not found", lastTransitionTime: "x" },
  ];

  it("finds conditions by type", () => {
    expect(getCondition(conds, "Bound")?.reason).toBe("VolumeMissing");
    expect(isTrue(conds, "Scheduled")).toBe(true);
    expect(isTrue(conds, "Bound")).toBe(false);
    expect(isTrue(undefined, "Ready")).toBe(false);
  });

  it("summarizes Ready from sub-conditions: False wins, then Unknown, else True", () => {
    expect(summarize(conds, ["Scheduled", "Bound"])).toEqual({
      type: "Ready", status: "False", reason: "VolumeMissing", message: "volume data-1 not found",
    });
    expect(summarize(conds, ["Scheduled", "Missing"])).toMatchObject({ status: "Unknown", reason: "Pending" });
    expect(summarize(conds, ["Scheduled"], "Running")).toEqual({ type: "Ready", status: "True", reason: "Running", message: "" });
  });
});
