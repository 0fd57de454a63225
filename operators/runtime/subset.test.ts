import { describe, expect, it } from "vitest";
import { containsSubset } from "./subset.ts";

describe("containsSubset", () => {
  const actual = { metadata: { name: "a", uid: "u", labels: { x: "1", y: "2" } }, data: { k: "v" }, list: [{ a: 1, b: 2 }] };
  it("accepts a desired object whose every field is present with the same value", () => {
    expect(containsSubset(actual, { metadata: { name: "a", labels: { x: "1" } }, data: { k: "v" }, list: [{ a: 1 }] })).toBe(true);
  });
  it("rejects a changed value, a missing key, or a list of another length", () => {
    expect(containsSubset(actual, { data: { k: "w" } })).toBe(false);
    expect(containsSubset(actual, { data: { other: "v" } })).toBe(false);
    expect(containsSubset(actual, { list: [{ a: 1 }, { a: 2 }] })).toBe(false);
    expect(containsSubset(undefined, { a: 1 })).toBe(false);
  });
});
