import { describe, expect, it } from "vitest";
import type { Node } from "../runtime/core.ts";
import { nodeChanged } from "./caches.ts";

const node = (ready: string, heartbeat: string, unschedulable?: boolean): Node => ({
  metadata: { name: "n", labels: { "cellcloud.io/pool": "p" } },
  spec: { unschedulable },
  status: { allocatable: { cpu: "8" }, conditions: [{ type: "Ready", status: ready, lastHeartbeatTime: heartbeat as never }] },
}) as Node;

describe("nodeChanged", () => {
  it("ignores a heartbeat, which KWOK writes for every node every few minutes", () => {
    expect(nodeChanged("update", node("True", "2026-01-01T00:10:00Z"), node("True", "2026-01-01T00:00:00Z"))).toBe(false);
  });

  it("passes readiness and cordoning changes, adds and deletes", () => {
    const base = node("True", "t");
    expect(nodeChanged("update", node("False", "t"), base)).toBe(true);
    expect(nodeChanged("update", node("True", "t", true), base)).toBe(true);
    expect(nodeChanged("add", base)).toBe(true);
    expect(nodeChanged("delete", base)).toBe(true);
  });
});
