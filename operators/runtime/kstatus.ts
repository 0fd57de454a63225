// kstatus, the rules Flux (and Argo CD with CellCloud's health check) use to call a resource
// Current, InProgress or Failed. Every CellCloud kind must follow them, so GitOps tools report
// Healthy only once a resource is really Ready for its latest spec.
import { getCondition, type Condition } from "./conditions.ts";
import type { KubeObject } from "./types.ts";

export type KStatus = "Current" | "InProgress" | "Failed";

export function kstatus(obj: KubeObject): { status: KStatus; message: string } {
  const st = (obj.status ?? {}) as { observedGeneration?: number; conditions?: Condition[] };
  const generation = obj.metadata.generation ?? 0;
  if (st.observedGeneration === undefined || st.observedGeneration < generation) {
    return { status: "InProgress", message: `generation ${generation} not observed yet (observed ${st.observedGeneration ?? "none"})` };
  }
  const stalled = getCondition(st.conditions, "Stalled");
  if (stalled?.status === "True") return { status: "Failed", message: `${stalled.reason}: ${stalled.message}` };
  const ready = getCondition(st.conditions, "Ready");
  if (ready?.status === "True") return { status: "Current", message: ready.message };
  return { status: "InProgress", message: ready ? `${ready.reason}: ${ready.message}` : "no Ready condition yet" };
}
