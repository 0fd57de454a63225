import { describe, expect, it } from "vitest";
import { nodeFingerprint } from "./caches.ts";
import type { Node } from "./nodepool.ts";

const node = (ready: string, heartbeat: string, unschedulable?: boolean): Node => ({
  metadata: { name: "n", labels: { "cellcloud.io/pool": "p" } },
  spec: { unschedulable },
  status: { allocatable: { cpu: "8" }, conditions: [{ type: "Ready", status: ready, lastHeartbeatTime: heartbeat as never }] },
}) as Node;

describe("nodeFingerprint", () => {
  it("ignores a heartbeat, which KWOK writes for every node every few minutes", () => {
    expect(nodeFingerprint(node("True", "2026-01-01T00:00:00Z"))).toBe(nodeFingerprint(node("True", "2026-01-01T00:10:00Z")));
  });

  it("changes with readiness and cordoning", () => {
    const base = nodeFingerprint(node("True", "t"));
    expect(nodeFingerprint(node("False", "t"))).not.toBe(base);
    expect(nodeFingerprint(node("True", "t", true))).not.toBe(base);
  });
});
