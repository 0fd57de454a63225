import { describe, expect, it } from "vitest";
import { PodRef } from "./core.ts";
import { Informer, stripServerFields } from "./informer.ts";
import type { KubeClient } from "./kube.ts";
import { newLogger } from "./log.ts";
import { changed, generationChanged } from "./predicates.ts";
import type { KubeObject } from "./types.ts";

// An informer that is never started needs no client: only its index bookkeeping is exercised here.
const informer = () => new Informer({} as KubeClient, PodRef, newLogger("silent"));

describe("Informer.addIndexer", () => {
  it("adding the same function under a name again is a no-op (shared informers)", () => {
    const inf = informer();
    const byName = (o: KubeObject) => [o.metadata.name];
    inf.addIndexer("test.cellcloud.io/name", byName);
    expect(() => inf.addIndexer("test.cellcloud.io/name", byName)).not.toThrow();
  });

  it("throws when another function claims a taken name, instead of silently replacing the index", () => {
    const inf = informer();
    inf.addIndexer("uid", (o) => [o.metadata.uid ?? ""]);
    expect(() => inf.addIndexer("uid", (o) => [o.metadata.name])).toThrow(/index "uid" is already defined/);
  });
});

describe("Informer.addTally", () => {
  type Held = KubeObject & { status?: { pool?: string; size?: number } };
  const held = (name: string, pool?: string, size?: number): Held => ({ metadata: { name, namespace: "n", resourceVersion: `${Math.random()}` }, ...(pool ? { status: { pool, size } } : {}) });
  const event = (inf: Informer, type: "ADDED" | "MODIFIED" | "DELETED", o: Held) => (inf as unknown as { onWatchEvent(e: unknown): void }).onWatchEvent({ type, object: o });
  const bySize = (o: Held) => {
    if (o.status?.size === -1) throw new Error("unreadable");
    return o.status?.pool ? { group: o.status.pool, amount: o.status.size ?? 0 } : undefined;
  };

  it("keeps each group's sum current through adds, moves, deletes, and counts what was cached before it", () => {
    const inf = informer();
    event(inf, "ADDED", held("a", "p1", 5));
    inf.addTally("t", bySize);
    event(inf, "ADDED", held("b", "p1", 7));
    event(inf, "ADDED", held("c"));
    expect(inf.tally("t", "p1")).toBe(12);
    event(inf, "MODIFIED", held("b", "p2", 9)); // moved to another group, and grown
    expect([inf.tally("t", "p1"), inf.tally("t", "p2")]).toEqual([5, 9]);
    expect(inf.tallied("t", "n/b")).toEqual({ group: "p2", amount: 9 });
    expect(inf.tallied("t", "n/c")).toBeUndefined();
    event(inf, "DELETED", held("a", "p1", 5));
    expect(inf.tally("t", "p1")).toBe(0);
    expect([...inf.tallies("t")]).toEqual([["p2", 9]]);
    event(inf, "MODIFIED", held("c", "p2", 1));
    expect(inf.tally("t", "p2")).toBe(10);
  });

  it("counts nothing for an object its function throws on, and stays right when it is fixed", () => {
    const inf = informer();
    inf.addTally("t", bySize);
    event(inf, "ADDED", held("a", "p1", 5));
    event(inf, "MODIFIED", held("a", "p1", -1));
    expect(inf.tally("t", "p1")).toBe(0);
    event(inf, "MODIFIED", held("a", "p1", 3));
    expect(inf.tally("t", "p1")).toBe(3);
  });

  it("is shared like an index: the same function again is a no-op, another under the name throws", () => {
    const inf = informer();
    inf.addTally("t", bySize);
    event(inf, "ADDED", held("a", "p1", 5));
    inf.addTally("t", bySize);
    expect(inf.tally("t", "p1")).toBe(5);
    expect(() => inf.addTally("t", () => undefined)).toThrow(/tally "t" is already defined/);
  });
});

describe("predicates", () => {
  const obj = (generation: number, label = "a"): KubeObject => ({ metadata: { name: "x", generation, labels: { l: label } } });
  it("generationChanged passes adds, deletes and spec changes, not status-only updates", () => {
    expect(generationChanged("add", obj(1))).toBe(true);
    expect(generationChanged("delete", obj(1))).toBe(true);
    expect(generationChanged("update", obj(2), obj(1))).toBe(true);
    expect(generationChanged("update", obj(1), obj(1))).toBe(false);
  });

  it("changed passes updates that change what the fingerprint reads", () => {
    const p = changed((o) => o.metadata.labels);
    expect(p("update", obj(1, "b"), obj(1, "a"))).toBe(true);
    expect(p("update", obj(2, "a"), obj(1, "a"))).toBe(false);
  });
});

describe("stripServerFields (the default cache transform)", () => {
  const pod = (): KubeObject => ({
    apiVersion: "v1", kind: "Pod",
    metadata: {
      name: "p", namespace: "n", labels: { a: "1" },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{…}", keep: "me" },
      managedFields: [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": {} } }],
    },
    spec: { nodeName: "h1" },
  });

  it("drops managedFields and kubectl's last-applied annotation and keeps everything else", () => {
    const original = pod();
    const out = stripServerFields(original);
    expect(out.metadata.managedFields).toBeUndefined();
    expect(out.metadata.annotations).toEqual({ keep: "me" });
    expect(out.metadata.labels).toEqual({ a: "1" });
    expect(out.spec).toEqual({ nodeName: "h1" });
    // the watch event's object is not mutated
    expect(original).toEqual(pod());
  });

  it("returns an object that has neither as it is", () => {
    const o: KubeObject = { metadata: { name: "x", annotations: { a: "b" } } };
    expect(stripServerFields(o)).toBe(o);
  });
});
