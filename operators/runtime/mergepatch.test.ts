import { describe, expect, it } from "vitest";
import { applyMergePatch, mergePatch } from "./mergepatch.ts";

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

describe("applyMergePatch", () => {
  it("merges objects, removes nulls, replaces the rest (RFC 7386), and undoes mergePatch", () => {
    expect(applyMergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, x: 4 }, e: [2], f: "y" })).toEqual({ a: 1, b: { d: 3, x: 4 }, e: [2], f: "y" });
    const from = { spec: { powerState: "Stopped", size: 2 }, metadata: { annotations: { a: "1" } } };
    const to = { spec: { powerState: "Running", size: 2 }, metadata: { annotations: {} } };
    expect(applyMergePatch(from, mergePatch(from, to))).toEqual(to);
  });
});
