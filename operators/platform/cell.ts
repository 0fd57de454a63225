// A Cell's status, aggregated from its nodes and the pods bound to them. Pure: the controller passes
// the nodes from its cache and a function giving the requests on each node.
import type { ArchResources, CellStatus, ResourceSummary } from "../api/platform.ts";
import { nameList, type ConditionInput } from "../runtime/conditions.ts";
import { nodeLabels } from "../api/platform.ts";
import type { Node } from "../runtime/core.ts";
import { isReady } from "./nodepool.ts";
import { bytes, cpuMillis, formatBytes, formatCpu } from "../api/quantity.ts";

/** cpu in millicores, memory in bytes, pods as a count. */
export interface Amounts {
  cpu: number;
  memory: number;
  pods: number;
}

export interface ArchTotals {
  nodes: number;
  capacity: Amounts;
  allocatable: Amounts;
  allocated: Amounts;
}

export interface CellAggregate {
  pools: number;
  nodes: { total: number; ready: number; notReady: number; cordoned: number };
  total: ArchTotals;
  /** Per kubernetes.io/arch value; only architectures that have nodes. */
  architectures: Map<string, ArchTotals>;
}

const zero = (): Amounts => ({ cpu: 0, memory: 0, pods: 0 });
const emptyTotals = (): ArchTotals => ({ nodes: 0, capacity: zero(), allocatable: zero(), allocated: zero() });

function add(into: Amounts, a: Amounts): void {
  into.cpu += a.cpu;
  into.memory += a.memory;
  into.pods += a.pods;
}

/** A node's status.capacity or status.allocatable; an unparseable amount counts as zero. */
function amountsOf(list: Record<string, string> | undefined): Amounts {
  const parse = (f: (q: string) => number, q: string | undefined): number => {
    if (q === undefined) return 0;
    try {
      return f(q);
    } catch {
      return 0;
    }
  };
  return { cpu: parse(cpuMillis, list?.cpu), memory: parse(bytes, list?.memory), pods: parse(bytes, list?.pods) };
}

export interface NodeAmounts {
  capacity: Amounts;
  allocatable: Amounts;
}

/** A node's capacity and allocatable, parsed. */
export function nodeAmounts(node: Node): NodeAmounts {
  return { capacity: amountsOf(node.status?.capacity), allocatable: amountsOf(node.status?.allocatable) };
}

/**
 * Sums the cell's nodes by architecture; `allocatedOn(node)` gives the requests of the pods bound
 * to it, `amounts` parses a node's capacity (the controller memoizes it per node version).
 */
export function aggregateCell(
  nodes: readonly Node[], pools: number, allocatedOn: (node: Node) => Amounts, amounts: (node: Node) => NodeAmounts = nodeAmounts,
): CellAggregate {
  const agg: CellAggregate = { pools, nodes: { total: 0, ready: 0, notReady: 0, cordoned: 0 }, total: emptyTotals(), architectures: new Map() };
  for (const node of nodes) {
    const arch = node.metadata.labels?.[nodeLabels.arch] ?? node.status?.nodeInfo?.architecture ?? "unknown";
    let perArch = agg.architectures.get(arch);
    if (!perArch) agg.architectures.set(arch, (perArch = emptyTotals()));
    const { capacity, allocatable } = amounts(node);
    const allocated = allocatedOn(node);
    for (const t of [agg.total, perArch]) {
      t.nodes++;
      add(t.capacity, capacity);
      add(t.allocatable, allocatable);
      add(t.allocated, allocated);
    }
    agg.nodes.total++;
    if (isReady(node)) agg.nodes.ready++;
    else agg.nodes.notReady++;
    if (node.spec?.unschedulable) agg.nodes.cordoned++;
  }
  return agg;
}

function formatAmounts(a: Amounts): ResourceSummary {
  return { cpu: formatCpu(a.cpu), memory: formatBytes(a.memory), pods: String(a.pods) };
}

function formatTotals(t: ArchTotals): ArchResources {
  return { nodes: t.nodes, capacity: formatAmounts(t.capacity), allocatable: formatAmounts(t.allocatable), allocated: formatAmounts(t.allocated) };
}

/** The status fields (conditions aside) and the Ready condition of a cell. */
export function cellStatus(agg: CellAggregate): { fields: Omit<CellStatus, "conditions" | "observedGeneration">; ready: ConditionInput } {
  const architectures: NonNullable<CellStatus["architectures"]> = {};
  for (const arch of ["amd64", "arm64"] as const) {
    const t = agg.architectures.get(arch);
    if (t) architectures[arch] = formatTotals(t);
  }
  const n = agg.nodes;
  const message = `${n.total} node(s) in ${agg.pools} pool(s): ${n.ready} Ready, ${n.notReady} NotReady, ${n.cordoned} cordoned`;
  return {
    fields: { pools: agg.pools, nodes: { ...n }, total: formatTotals(agg.total), architectures },
    ready: { type: "Ready", status: "True", reason: "Aggregated", message },
  };
}

/** Ready=False while node pools still name a cell being deleted (undefined once none does). */
export function cellInUse(users: readonly string[]): ConditionInput | undefined {
  if (users.length === 0) return undefined;
  return { type: "Ready", status: "False", reason: "InUse", message: `cell is still used by node pool(s) ${nameList(users, 10)}; delete them first` };
}
