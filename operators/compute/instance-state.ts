// What an ECS Instance's status says given its launcher pod (power state, Scheduled, Ready), when a
// running pod can be resized in place, and which power-state changes are news. Pure.
import type { InstanceObj, InstanceSpec, InstanceStatus } from "../api/compute.ts";
import { launcher } from "../api/compute.ts";
import { bytes, cpuMillis } from "../api/quantity.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import { isPodFinished, isPodReady, type Pod } from "../runtime/core.ts";
import type { Problem, Size } from "./instance.ts";

/** Why a launcher pod that is not the current one is being replaced, for power state and Events. */
export function replacementCause(inst: InstanceObj, old: Pod): "Rebuilding" | "Migrating" | "Rebooting" {
  const a = old.metadata.annotations ?? {};
  if (a[launcher.image] !== inst.spec.image) return "Rebuilding";
  if ((a[launcher.migration] ?? "") !== (inst.spec.migration?.requestedAt ?? "")) return "Migrating";
  return "Rebooting";
}

export const isFinished = isPodFinished;
export const isTerminating = (p: Pod): boolean => Boolean(p.metadata.deletionTimestamp);

/** What the pod's container asks for now (in-place resizes change it). */
export function podSize(p: Pod): { vcpus: number; memory: string } | undefined {
  const req = p.spec?.containers.find((c) => c.name === launcher.container)?.resources?.requests;
  if (!req?.cpu || !req.memory) return undefined;
  return { vcpus: cpuMillis(req.cpu) / 1000, memory: req.memory };
}

export type ResizePlan =
  | { kind: "none" }
  | { kind: "online" }
  | { kind: "needsStop"; message: string };

/**
 * How to bring a running pod to `size`: nothing, an in-place resize, or a message that it needs the
 * instance Stopped (a shrink, or a flavor that does not resize online). `headroom` is what the host
 * has left, in millicores and bytes.
 */
export function planResize(current: { vcpus: number; memory: string }, size: Size, headroom: { cpu: number; memory: number }): ResizePlan {
  const dCpu = size.vcpus * 1000 - current.vcpus * 1000;
  const dMem = bytes(size.memory) - bytes(current.memory);
  if (dCpu === 0 && dMem === 0) return { kind: "none" };
  const what = `${current.vcpus} vCPU/${current.memory} → ${size.vcpus} vCPU/${size.memory}`;
  if (dCpu < 0 || dMem < 0) return { kind: "needsStop", message: `resize ${what} shrinks the instance; set spec.powerState: Stopped to apply it` };
  if (!size.onlineResize) return { kind: "needsStop", message: `resize ${what}: ${size.source} does not resize online; set spec.powerState: Stopped to apply it` };
  if (dCpu > headroom.cpu || dMem > headroom.memory) {
    return { kind: "needsStop", message: `resize ${what}: the host has no room to grow in place; stop the instance (or migrate it) to apply it` };
  }
  return { kind: "online" };
}

export interface Observation {
  /** The current launcher pod, if any (not terminating, not finished). */
  pod?: Pod;
  /** Pods on their way out, and why. */
  leaving?: "Stopping" | "Rebooting" | "Rebuilding" | "Migrating";
  node?: { name: string; cell?: string; zone?: string };
  size?: { vcpus: number; memory: string };
  arch?: string;
  /** Why the instance cannot start (or run as asked). */
  problem?: Problem;
  /** A pending resize the user must act on. */
  resizeBlocked?: string;
}

export interface InstanceState {
  powerState: NonNullable<InstanceStatus["powerState"]>;
  scheduled: ConditionInput;
  ready: ConditionInput;
}

/** The status a set of observations adds up to. */
export function instanceState(spec: InstanceSpec, o: Observation): InstanceState {
  const cond = (type: string, status: ConditionInput["status"], reason: string, message: string): ConditionInput => ({ type, status, reason, message });
  const scheduledOn = (node: string) => cond("Scheduled", "True", "Scheduled", `placed on ${node}${o.node?.cell ? ` in cell ${o.node.cell}` : ""}${o.node?.zone ? ` (${o.node.zone})` : ""}`);
  if (o.leaving) {
    const msg = { Stopping: "shutting down", Rebooting: "rebooting", Rebuilding: `rebuilding from image ${spec.image}`, Migrating: "migrating to another host" }[o.leaving];
    return { powerState: o.leaving, scheduled: cond("Scheduled", "False", o.leaving, msg), ready: cond("Ready", "False", o.leaving, msg) };
  }
  const pod = o.pod;
  if (!pod) {
    if (spec.powerState === "Stopped") {
      const stopped = "stopped; its host is released and its disks are kept";
      return { powerState: "Stopped", scheduled: cond("Scheduled", "False", "Stopped", stopped), ready: cond("Ready", "True", "Stopped", stopped) };
    }
    if (o.problem) return { powerState: "Pending", scheduled: cond("Scheduled", "False", o.problem.reason, o.problem.message), ready: cond("Ready", "False", o.problem.reason, o.problem.message) };
    return { powerState: "Starting", scheduled: cond("Scheduled", "False", "Starting", "creating the launcher"), ready: cond("Ready", "False", "Starting", "creating the launcher") };
  }
  const node = pod.spec?.nodeName;
  if (!node) {
    const ps = (pod.status?.conditions ?? []).find((c) => c.type === "PodScheduled" && c.status === "False");
    const msg = ps?.message ? `no host fits: ${ps.message}` : "waiting for the cell scheduler";
    const reason = ps?.reason === "Unschedulable" ? "Unschedulable" : "Scheduling";
    return { powerState: "Pending", scheduled: cond("Scheduled", "False", reason, msg), ready: cond("Ready", "False", reason, msg) };
  }
  const scheduled = scheduledOn(node);
  if (!isPodReady(pod)) return { powerState: "Starting", scheduled, ready: cond("Ready", "False", "Booting", `booting on ${node}`) };
  if (o.resizeBlocked) return { powerState: "Running", scheduled, ready: cond("Ready", "False", "ResizeRequiresStop", o.resizeBlocked) };
  if (o.problem) return { powerState: "Running", scheduled, ready: cond("Ready", "False", o.problem.reason, `${o.problem.message} (the running instance is unaffected)`) };
  const paused = pod.metadata.annotations?.[launcher.paused] === "true";
  if (spec.powerState === "Paused") {
    return paused
      ? { powerState: "Paused", scheduled, ready: cond("Ready", "True", "Paused", `paused on ${node}`) }
      : { powerState: "Running", scheduled, ready: cond("Ready", "False", "Pausing", "pausing") };
  }
  if (paused) return { powerState: "Paused", scheduled, ready: cond("Ready", "False", "Resuming", "resuming") };
  return { powerState: "Running", scheduled, ready: cond("Ready", "True", "Running", `running on ${node}`) };
}

/** The Event for a change of power state, or undefined when it is not news. Replacements have their own Events. */
export function powerEvent(from: string | undefined, to: string, node: string | undefined): { reason: string; message: string } | undefined {
  if (from === to) return undefined;
  const on = node ? ` on ${node}` : "";
  if (to === "Running") return from === "Paused" ? { reason: "Resumed", message: `resumed${on}` } : { reason: "Started", message: `running${on}` };
  if (to === "Paused") return { reason: "Paused", message: `paused${on}` };
  if (to === "Stopped" && from) return { reason: "Stopped", message: "stopped; its host is released and its disks are kept" };
  return undefined;
}
