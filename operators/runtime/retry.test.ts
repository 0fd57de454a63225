import { describe, expect, it } from "vitest";
import { ApiError } from "./kube.ts";
import { retryOnConflict } from "./retry.ts";

const conflict = () => new ApiError(409, "Conflict", "the object has been modified");

describe("retryOnConflict", () => {
  it("re-runs the function on 409 until it succeeds", async () => {
    let calls = 0;
    const v = await retryOnConflict(async () => {
      if (++calls < 3) throw conflict();
      return "ok";
    }, { baseMs: 1 });
    expect([v, calls]).toEqual(["ok", 3]);
  });

  it("gives up after `steps` attempts and rethrows the conflict", async () => {
    let calls = 0;
    await expect(retryOnConflict(async () => { calls++; throw conflict(); }, { steps: 4, baseMs: 1 })).rejects.toThrow("modified");
    expect(calls).toBe(4);
  });

  it("does not retry other errors", async () => {
    let calls = 0;
    await expect(retryOnConflict(async () => { calls++; throw new ApiError(404, "NotFound", "gone"); })).rejects.toThrow("gone");
    expect(calls).toBe(1);
  });
});
