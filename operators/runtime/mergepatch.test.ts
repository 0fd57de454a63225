import { describe, expect, it } from "vitest";
import { mergePatch } from "./mergepatch.ts";

describe("mergePatch", () => {
  it("is undefined for equal values, whatever the key order", () => {
    expect(mergePatch({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBeUndefined();
  });
  it("sets changed and added keys, nulls removed ones, recurses into objects", () => {
    expect(mergePatch({ a: 1, b: { x: 1, y: 2 }, gone: true }, { a: 2, b: { x: 1, y: 3 }, add: "n" })).toEqual({
      a: 2, b: { y: 3 }, gone: null, add: "n",
    });
  });
  it("replaces arrays whole and treats undefined as absent", () => {
    expect(mergePatch({ l: [1, 2] }, { l: [1] })).toEqual({ l: [1] });
    expect(mergePatch({ a: 1, u: 2 }, { a: 1, u: undefined })).toEqual({ u: null });
    expect(mergePatch(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});
