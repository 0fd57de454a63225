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
