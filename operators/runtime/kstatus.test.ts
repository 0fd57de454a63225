import { describe, expect, it } from "vitest";
import { kstatus } from "./kstatus.ts";

const obj = (generation: number, status?: Record<string, unknown>) => ({ metadata: { name: "x", generation }, ...(status ? { status } : {}) });
const cond = (type: string, status: string, reason = "R", message = "m") => ({ type, status, reason, message, lastTransitionTime: "t" });

describe("kstatus", () => {
  it("is InProgress until the latest generation is observed", () => {
    expect(kstatus(obj(1)).status).toBe("InProgress");
    expect(kstatus(obj(2, { observedGeneration: 1, conditions: [cond("Ready", "True")] })).status).toBe("InProgress");
  });
  it("is Current when Ready=True for the latest generation", () => {
    expect(kstatus(obj(2, { observedGeneration: 2, conditions: [cond("Ready", "True")] })).status).toBe("Current");
  });
  it("is Failed when Stalled=True, with its reason and message", () => {
    expect(kstatus(obj(1, { observedGeneration: 1, conditions: [cond("Ready", "False"), cond("Stalled", "True", "BadSpec", "fix it")] })))
      .toEqual({ status: "Failed", message: "BadSpec: fix it" });
  });
  it("is InProgress while Ready is False or missing and nothing is stalled", () => {
    expect(kstatus(obj(1, { observedGeneration: 1, conditions: [cond("Ready", "False", "Waiting", "pool full")] })))
      .toEqual({ status: "InProgress", message: "Waiting: pool full" });
    expect(kstatus(obj(1, { observedGeneration: 1 })).status).toBe("InProgress");
  });
});
