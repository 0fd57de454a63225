// The NodePool's pure logic: which Node objects a pool wants (names, labels, taints, capacity with
// overcommit), how an existing node differs from that, which nodes to drain on scale-down and which
// of their pods to evict, and the pool's status. No client: the controller feeds it from its caches.
import type * as k8s from "@kubernetes/client-node";
import { nodeAnnotations, nodeLabels, type CellSpec, type NodePoolSpec } from "../api/platform.ts";
import { NodeRef, PodRef, type Node, type Pod } from "../runtime/core.ts";
import type { Action, EventSpec, Outcome } from "../runtime/managed.ts";
import { nameList, type ConditionInput } from "../runtime/conditions.ts";
import type { KubeObject, OwnerReference } from "../runtime/types.ts";
import { bytes, cpuMillis, formatBytes, formatCpu, overcommitted } from "../api/quantity.ts";

export type { Node, Pod };

/** What a pool's nodes are built from: the pool (name, uid, spec) and its Cell's spec. */
export interface PoolView {
  name: string;
  uid: string;
  spec: NodePoolSpec;
}

export function nodeName(pool: string, index: number): string {
  return `${pool}-${index}`;
}

/** The host index of a node named `<pool>-<i>`, or undefined for any other name. */
export function nodeIndex(pool: string, name: string): number | undefined {
  if (!name.startsWith(`${pool}-`)) return undefined;
  const rest = name.slice(pool.length + 1);
  return /^(0|[1-9]\d{0,5})$/.test(rest) ? Number(rest) : undefined;
}

/** Host i sits in rack floor(i / hostsPerRack), behind that rack's one top-of-rack switch. */
export function rackOf(pool: string, index: number, hostsPerRack: number): { rack: string; switch: string } {
  const k = Math.floor(index / hostsPerRack);
  return { rack: `${pool}-r${k}`, switch: `${pool}-s${k}` };
}


export interface NodeResources {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
}

const MiB = 1024 ** 2;

/**
 * A host's status.capacity, and status.allocatable = capacity × overcommit for cpu and memory (never
 * pods or disk). Overcommitted memory is rounded down to whole MiB, so "384Gi" × 1.2 reads "471859Mi".
 */
export function nodeResources(spec: NodePoolSpec): NodeResources {
  const cpu = cpuMillis(spec.capacity.cpu);
  const memory = bytes(spec.capacity.memory);
  const disk = String(spec.capacity.ephemeralStorage); // not overcommitted: the user's spelling stands
  const pods = String(spec.capacity.pods);
  return {
    capacity: { cpu: formatCpu(cpu), memory: formatBytes(memory), pods, "ephemeral-storage": disk },
    allocatable: {
      cpu: formatCpu(overcommitted(cpu, spec.overcommit.cpu)),
      memory: formatBytes(spec.overcommit.memory === 1 ? memory : Math.floor(overcommitted(memory, spec.overcommit.memory) / MiB) * MiB),
      pods,
      "ephemeral-storage": disk,
    },
  };
}

const taintId = (t: { key: string; effect: string }): string => `${t.key}:${t.effect}`;

interface Managed {
  labels: string[];
  taints: string[];
}

// A pool's nodes all carry the same annotation text: parse each distinct text once.
const managedParsed = new Map<string, Managed>();

function managedOf(node: Node): Managed {
  const text = node.metadata.annotations?.[nodeAnnotations.managed] ?? "{}";
  let m = managedParsed.get(text);
  if (m) return m;
  try {
    const raw = JSON.parse(text) as Partial<Managed>;
    m = { labels: Array.isArray(raw.labels) ? raw.labels : [], taints: Array.isArray(raw.taints) ? raw.taints : [] };
  } catch {
    m = { labels: [], taints: [] };
  }
  if (managedParsed.size > 1024) managedParsed.clear();
  managedParsed.set(text, m);
  return m;
}

function ownerReference(pool: PoolView): OwnerReference {
  // No blockOwnerDeletion: the pool's finalizer already drains and deletes its nodes first.
  return { apiVersion: "platform.cellcloud.io/v1alpha1", kind: "NodePool", name: pool.name, uid: pool.uid, controller: true };
}

/**
 * The pool's nodes as the controller creates them: what all hosts share is computed once, so
 * building 5000 of them parses no quantity twice.
 */
export function nodeTemplate(pool: PoolView, cell: CellSpec): (index: number) => Node {
  const { spec } = pool;
  const taints = (spec.taints ?? []).map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect }));
  const managed: Managed = { labels: Object.keys(spec.labels ?? {}).sort(), taints: taints.map(taintId).sort() };
  const { capacity, allocatable } = nodeResources(spec);
  const labels = {
    ...spec.labels,
    [nodeLabels.arch]: spec.architecture,
    [nodeLabels.os]: "linux",
    [nodeLabels.region]: cell.region,
    [nodeLabels.zone]: cell.zone,
    [nodeLabels.cell]: spec.cell,
    [nodeLabels.pool]: pool.name,
    [nodeLabels.cpuVendor]: spec.cpuVendor,
  };
  const annotations = { [nodeAnnotations.kwok]: "fake", [nodeAnnotations.managed]: JSON.stringify(managed) };
  const owner = ownerReference(pool);
  const nodeInfo = { architecture: spec.architecture, operatingSystem: "linux" } as k8s.V1NodeSystemInfo;
  return (index) => {
    const name = nodeName(pool.name, index);
    const { rack, switch: sw } = rackOf(pool.name, index, spec.topology.hostsPerRack);
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        labels: { ...labels, [nodeLabels.hostname]: name, [nodeLabels.rack]: rack, [nodeLabels.switch]: sw },
        annotations,
        ownerReferences: [owner],
      },
      spec: { providerID: `kwok://${name}`, ...(taints.length ? { taints } : {}) },
      status: { capacity, allocatable, nodeInfo },
    };
  };
}

/** The Node object for host `index` of the pool, as the controller creates it. */
export function desiredNode(pool: PoolView, cell: CellSpec, index: number): Node {
  return nodeTemplate(pool, cell)(index);
}

export interface NodeRepair {
  /** A merge patch for the Node (metadata and spec), carrying the cached resourceVersion. */
  patch?: Record<string, unknown>;
  /** A merge patch for nodes/status. */
  statusPatch?: Record<string, unknown>;
}

/**
 * What to change on an existing node so it matches `desired`: labels and taints the pool sets (and
 * those it set before but no longer does), ownership, an interrupted drain, capacity. Labels and
 * taints others put on the node (the node lifecycle controller's not-ready taints, a user's) stay.
 */
export function nodeRepair(node: Node, desired: Node): NodeRepair {
  const metadata: Record<string, unknown> = {};
  const spec: Record<string, unknown> = {};
  const before = managedOf(node);
  const after = managedOf(desired);

  const labels: Record<string, string | null> = {};
  const have = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) if (have[k] !== v) labels[k] = v;
  for (const k of before.labels) if (!(k in (desired.metadata.labels ?? {})) && k in have) labels[k] = null;
  if (Object.keys(labels).length) metadata.labels = labels;

  const annotations: Record<string, string | null> = {};
  const notes = node.metadata.annotations ?? {};
  for (const [k, v] of Object.entries(desired.metadata.annotations ?? {})) if (notes[k] !== v) annotations[k] = v;
  if (nodeAnnotations.draining in notes) {
    annotations[nodeAnnotations.draining] = null; // scaled up again while draining: keep the host
    spec.unschedulable = null;
  }
  if (Object.keys(annotations).length) metadata.annotations = annotations;

  const owner = desired.metadata.ownerReferences?.[0];
  if (owner && !node.metadata.ownerReferences?.some((r) => r.uid === owner.uid && r.controller)) metadata.ownerReferences = [owner];

  const taints = desiredTaints(node.spec?.taints ?? [], desired.spec?.taints ?? [], new Set(before.taints), new Set(after.taints));
  if (taints) spec.taints = taints;

  const repair: NodeRepair = {};
  if (Object.keys(metadata).length || Object.keys(spec).length) {
    repair.patch = {
      metadata: { ...metadata, resourceVersion: node.metadata.resourceVersion },
      ...(Object.keys(spec).length ? { spec } : {}),
    };
  }
  const want = desired.status ?? {};
  if (!sameResources(node.status?.capacity, want.capacity) || !sameResources(node.status?.allocatable, want.allocatable)) {
    repair.statusPatch = { status: { capacity: want.capacity, allocatable: want.allocatable } };
  }
  return repair;
}

/** The node's taints with the pool's replaced, or undefined when they already match. */
function desiredTaints(current: k8s.V1Taint[], wanted: k8s.V1Taint[], before: Set<string>, after: Set<string>): k8s.V1Taint[] | undefined {
  const others = current.filter((t) => !before.has(taintId(t)) && !after.has(taintId(t)));
  const next = [...others, ...wanted];
  const fingerprint = (ts: k8s.V1Taint[]) => ts.map((t) => `${taintId(t)}=${t.value ?? ""}`).sort().join("\n");
  return fingerprint(next) === fingerprint(current) ? undefined : next;
}

const parsers: Record<string, (q: string) => number> = {
  cpu: cpuMillis, memory: bytes, pods: bytes, "ephemeral-storage": bytes,
};

/** Same amounts for the keys `want` names, however the apiserver spelled them ("1536Mi" is "1.5Gi"). */
function sameResources(have: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean {
  if (!want) return true;
  return Object.entries(want).every(([k, v]) => {
    const h = have?.[k];
    if (h === v) return true;
    if (h === undefined) return false;
    const parse = parsers[k] ?? bytes;
    try {
      return parse(h) === parse(v);
    } catch {
      return false;
    }
  });
}

function isOwnedBy(node: Node, pool: string): boolean {
  return node.metadata.ownerReferences?.some((r) => r.controller && r.kind === "NodePool" && r.name === pool) ?? false;
}

/** The pool a node belongs to: its controlling NodePool, else its cellcloud.io/pool label. */
export function poolOf(node: Node): string | undefined {
  return node.metadata.ownerReferences?.find((r) => r.controller && r.kind === "NodePool")?.name ?? node.metadata.labels?.[nodeLabels.pool];
}

export function isReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export interface PoolPlan {
  /** Host indexes below spec.nodes that have no Node yet. */
  missing: number[];
  /** The pool's nodes that should stay, with their host index, lowest first. */
  keep: Array<{ index: number; node: Node }>;
  /** The pool's nodes to drain and delete, highest index first. */
  surplus: Node[];
}

/**
 * Splits the pool's nodes (those whose controller owner is the pool) into the ones to keep and the
 * surplus, and lists the missing indexes. A node already being deleted is neither kept nor missing.
 */
export function planPool(pool: string, desired: number, nodes: readonly Node[]): PoolPlan {
  const present = new Set<number>();
  const keep: Array<{ i: number; node: Node }> = [];
  const surplus: Array<{ i: number; node: Node }> = [];
  for (const node of nodes) {
    if (!isOwnedBy(node, pool)) continue;
    const i = nodeIndex(pool, node.metadata.name) ?? Number.MAX_SAFE_INTEGER;
    present.add(i);
    if (node.metadata.deletionTimestamp) continue;
    (i < desired ? keep : surplus).push({ i, node });
  }
  const missing: number[] = [];
  for (let i = 0; i < desired; i++) if (!present.has(i)) missing.push(i);
  keep.sort((a, b) => a.i - b.i);
  surplus.sort((a, b) => b.i - a.i || (a.node.metadata.name < b.node.metadata.name ? -1 : 1));
  return { missing, keep: keep.map(({ i, node }) => ({ index: i, node })), surplus: surplus.map((x) => x.node) };
}

/** Pods that do not hold a node up: finished ones, DaemonSet pods and static (mirror) pods. */
function ignoredByDrain(pod: Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return true;
  if (pod.metadata.annotations?.["kubernetes.io/config.mirror"] !== undefined) return true;
  return pod.metadata.ownerReferences?.some((r) => r.controller && r.kind === "DaemonSet") ?? false;
}

export interface DrainStep {
  /** Pods that still keep the node from being deleted. */
  remaining: Pod[];
  /** The remaining pods not yet terminating: evict these. */
  evict: Pod[];
}

/** What draining a node still has to do, given the pods bound to it. Empty `remaining`: delete the node. */
export function drainStep(pods: readonly Pod[]): DrainStep {
  const remaining = pods.filter((p) => !ignoredByDrain(p));
  return { remaining, evict: remaining.filter((p) => !p.metadata.deletionTimestamp) };
}

export interface Drain {
  /** Surplus nodes, with the pods still on each. */
  draining: Array<{ name: string; pods: number }>;
  /** Cordon the uncordoned, evict the pods of the cordoned, delete the empty ones. */
  actions: Action[];
  cordoned: string[];
  emptied: string[];
  evictions: number;
  reason: string;
}

/**
 * One step of draining `surplus`: cordon what is not cordoned yet; a node the cache shows cordoned
 * (so nothing new can have been placed on it since) has its pods evicted, and is deleted once empty.
 */
export function drainPlan(surplus: readonly Node[], podsOn: (node: string) => readonly Pod[], reason: string): Drain {
  const d: Drain = { draining: [], actions: [], cordoned: [], emptied: [], evictions: 0, reason };
  for (const node of surplus) {
    const name = node.metadata.name;
    if (node.spec?.unschedulable !== true || node.metadata.annotations?.[nodeAnnotations.draining] === undefined) {
      d.cordoned.push(name);
      d.draining.push({ name, pods: 0 });
      d.actions.push({ verb: "update", ref: NodeRef, name, patch: { metadata: { annotations: { [nodeAnnotations.draining]: reason } }, spec: { unschedulable: true } } });
      continue;
    }
    const step = drainStep(podsOn(name));
    d.draining.push({ name, pods: step.remaining.length });
    for (const p of step.evict) {
      d.evictions++;
      const eviction = { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: p.metadata.name, namespace: p.metadata.namespace } };
      d.actions.push({ verb: "create", ref: PodRef, object: eviction, subresource: "eviction" });
    }
    if (step.remaining.length === 0) {
      d.emptied.push(name);
      d.actions.push({ verb: "delete", ref: NodeRef, name });
    }
  }
  return d;
}

/** The Events of one pool reconcile, from what its calls met. */
export function poolEvents(outcomes: readonly Outcome[], repaired: readonly string[], d: Drain): EventSpec[] {
  const count = (verb: string, result: string, sub?: string) =>
    outcomes.filter((o) => o.action.verb === verb && o.result === result && o.action.ref.kind === (sub ? "Pod" : "Node")).length;
  const created = count("create", "created");
  const blocked = count("create", "refused", "eviction");
  const events: EventSpec[] = [];
  const add = (type: EventSpec["type"], reason: string, message: string) => events.push({ type, reason, message });
  if (created) add("Normal", "ScaledUp", `created ${created} node(s)`);
  if (repaired.length) add("Normal", "NodesRepaired", `brought ${repaired.length} node(s) back in line with the pool: ${nameList(repaired)}`);
  if (d.cordoned.length) add("Normal", "Draining", `cordoned ${d.cordoned.length} node(s) (${d.reason}): ${nameList(d.cordoned)}`);
  if (d.evictions) add("Normal", "Evicting", `evicting ${d.evictions} pod(s) from draining nodes`);
  if (blocked) add("Warning", "EvictionBlocked", `${blocked} eviction(s) refused by a PodDisruptionBudget; retrying`);
  if (d.emptied.length) add("Normal", "NodesDeleted", `deleted ${d.emptied.length} drained node(s): ${nameList(d.emptied)}`);
  return events;
}


export interface PoolFacts {
  desired: number;
  /** Nodes of the pool, surplus and draining included (terminating ones excluded). */
  nodes: readonly Node[];
  missing: readonly number[];
  /** Names of nodes being drained, with the pods left on each and whether a PDB blocked an eviction. */
  draining: ReadonlyArray<{ name: string; pods: number }>;
  blockedEvictions: number;
  cellFound: boolean;
  cell: string;
}

export interface PoolSummary {
  nodes: number;
  readyNodes: number;
  drainingNodes: number;
  ready: ConditionInput;
}

/** The pool's counts and Ready: True once every desired node exists, none is draining, all are Ready. */
export function summarizePool(pool: string, f: PoolFacts): PoolSummary {
  const readyNodes = f.nodes.filter(isReady).length;
  const counts = { nodes: f.nodes.length, readyNodes, drainingNodes: f.draining.length };
  const notReady = (reason: string, message: string): PoolSummary => ({ ...counts, ready: { type: "Ready", status: "False", reason, message } });
  if (!f.cellFound) return notReady("CellNotFound", `Cell ${f.cell} does not exist; no nodes are created until it does`);
  if (f.draining.length) {
    const pods = f.draining.reduce((a, d) => a + d.pods, 0);
    const blocked = f.blockedEvictions ? `; ${f.blockedEvictions} eviction(s) refused by a PodDisruptionBudget, retrying` : "";
    return notReady("Draining", `draining ${f.draining.length} node(s) before deletion (${pods} pod(s) left): ${nameList(f.draining.map((d) => d.name))}${blocked}`);
  }
  if (f.missing.length) {
    const names = f.missing.map((i) => nodeName(pool, i));
    return notReady("Scaling", `${f.desired - f.missing.length}/${f.desired} nodes exist; creating ${nameList(names)}`);
  }
  const unready = f.nodes.filter((n) => !isReady(n)).map((n) => n.metadata.name);
  if (unready.length) return notReady("NodesNotReady", `${readyNodes}/${f.nodes.length} nodes are Ready; not ready: ${nameList(unready)}`);
  return { ...counts, ready: { type: "Ready", status: "True", reason: "NodesReady", message: `${readyNodes} node(s) Ready` } };
}
