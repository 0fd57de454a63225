// The placement model and the Snapshot a cycle works on: nodes with their bound and assumed pods. Per-node
// totals and per-domain group counts are updated on each assume/forget, so a filter reads them in O(1).
import { ReasonedError } from "../../runtime/errors.ts";
import { nodeLabels } from "../../api/platform.ts";

export interface Resources {
  cpu: number; // millicores
  memory: number; // bytes
  pods: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** Kubernetes semantics: an empty key with operator Exists tolerates every taint. */
export interface Toleration {
  key?: string;
  operator?: "Exists" | "Equal";
  value?: string;
  effect?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface PlacedPod {
  key: string;
  priority: number;
  requests: Resources;
  groups: string[]; // spread and anti-affinity groups it belongs to
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  ready: boolean;
  allocatable: Resources; // already multiplied by the pool's overcommit ratio (the NodePool controller writes it so)
  pods: PlacedPod[]; // bound or assumed pods on the node
}

export type DomainKind = "host" | "rack" | "switch";
export const domainKinds: readonly DomainKind[] = ["host", "rack", "switch"];


export interface SpreadConstraint {
  group: string;
  domain: DomainKind;
  mode: "strict" | "best-effort";
  maxPerDomain?: number; // strict: default 1
}

export interface PodRequest {
  key: string;
  priority: number;
  requests: Resources;
  nodeSelector: Record<string, string>; // includes arch, cpu vendor, zone and cell when set
  requiredAffinity?: NodeSelectorRequirement[][]; // OR of ANDed requirement lists, like nodeSelectorTerms
  tolerations: Toleration[];
  spread?: SpreadConstraint; // DeploymentSet
  antiAffinityGroup?: string; // members of one HA database/broker never share a host
}

/** A node as filters and scores read it. Nothing outside Snapshot may change it. */
export interface NodeState {
  /** The node's facts; its pods live in `pods`, which assume/forget keep current. */
  readonly info: Readonly<Omit<NodeInfo, "pods">>;
  readonly requested: Readonly<Resources>;
  /** The node's value for each domain kind; undefined when the rack or switch label is missing. */
  readonly domains: Readonly<Record<DomainKind, string | undefined>>;
  readonly pods: ReadonlyMap<string, PlacedPod>;
}

interface MutableNode extends NodeState {
  readonly requested: Resources;
  readonly pods: Map<string, PlacedPod>;
}

/** A duplicate node, an unknown node or pod, or a pod assumed twice: a caller bug, never a user's. */
export class SnapshotError extends ReasonedError {}

type Members = Map<string, Map<string, number>>; // `${group}\0${kind}` → domain value → member count

const membersKey = (group: string, kind: DomainKind): string => `${group}\0${kind}`;

// Code-unit order, not localeCompare: the same on every machine and locale.
const nameOrder = (a: NodeInfo, b: NodeInfo): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function domainsOf(info: NodeInfo): Record<DomainKind, string | undefined> {
  return { host: info.name, rack: info.labels[nodeLabels.rack], switch: info.labels[nodeLabels.switch] };
}

export class Snapshot {
  // Not readonly only so clone() can fill a fresh instance without replaying every assume.
  private list: MutableNode[]; // sorted by name, so iteration order is the tie-break order
  private byName: Map<string, MutableNode>;
  private podNode: Map<string, string>;
  private members: Members;

  /**
   * Takes the nodes' pods as already placed. The NodeInfo objects are read, never changed, and must
   * not change while the snapshot lives: filters memoize what they found about a node's facts.
   */
  constructor(nodes: readonly NodeInfo[]) {
    this.list = [...nodes].sort(nameOrder).map((info) => ({
      info,
      requested: { cpu: 0, memory: 0, pods: 0 },
      domains: domainsOf(info),
      pods: new Map<string, PlacedPod>(),
    }));
    this.byName = new Map(this.list.map((n) => [n.info.name, n]));
    if (this.byName.size !== this.list.length) throw new SnapshotError("DuplicateNode", "two nodes share a name");
    this.podNode = new Map();
    this.members = new Map();
    for (const info of nodes) for (const pod of info.pods) this.assume(info.name, pod);
  }

  /** All nodes, sorted by name. */
  get nodes(): readonly NodeState[] {
    return this.list;
  }

  node(name: string): NodeState | undefined {
    return this.byName.get(name);
  }

  /** Where a pod is bound or assumed, if anywhere. */
  nodeOf(podKey: string): string | undefined {
    return this.podNode.get(podKey);
  }

  /** Members of `group` per domain value of `kind`; read once per pod, then looked up per node. */
  domainCounts(group: string, kind: DomainKind): ReadonlyMap<string, number> | undefined {
    return this.members.get(membersKey(group, kind));
  }

  count(group: string, kind: DomainKind, value: string): number {
    return this.domainCounts(group, kind)?.get(value) ?? 0;
  }

  assume(nodeName: string, pod: PlacedPod): void {
    const n = this.mustNode(nodeName);
    const where = this.podNode.get(pod.key);
    if (where !== undefined) throw new SnapshotError("PodAlreadyAssumed", `pod ${pod.key} is already on node ${where}`);
    n.pods.set(pod.key, pod);
    this.podNode.set(pod.key, nodeName);
    addResources(n.requested, pod.requests, 1);
    this.addMember(n, pod, 1);
  }

  forget(nodeName: string, podKey: string): void {
    const n = this.mustNode(nodeName);
    const pod = n.pods.get(podKey);
    if (!pod) throw new SnapshotError("PodNotFound", `pod ${podKey} is not on node ${nodeName}`);
    n.pods.delete(podKey);
    this.podNode.delete(podKey);
    addResources(n.requested, pod.requests, -1);
    this.addMember(n, pod, -1);
  }

  /** An independent copy, O(nodes + pods): node facts are shared, everything assume/forget touches is copied. */
  clone(): Snapshot {
    const copy = new Snapshot([]);
    copy.list = this.list.map((n) => ({ ...n, requested: { ...n.requested }, pods: new Map(n.pods) }));
    copy.byName = new Map(copy.list.map((n) => [n.info.name, n]));
    copy.podNode = new Map(this.podNode);
    copy.members = new Map([...this.members].map(([key, counts]) => [key, new Map(counts)]));
    return copy;
  }

  /** The current state as plain NodeInfo, assumed pods included: for tests, debugging and handing on. */
  toNodeInfos(): NodeInfo[] {
    return this.list.map((n) => ({ ...n.info, pods: [...n.pods.values()] }));
  }

  private mustNode(name: string): MutableNode {
    const n = this.byName.get(name);
    if (!n) throw new SnapshotError("NodeNotFound", `node ${name} is not in the snapshot`);
    return n;
  }

  private addMember(n: MutableNode, pod: PlacedPod, delta: 1 | -1): void {
    for (const group of new Set(pod.groups)) {
      for (const kind of domainKinds) {
        const value = n.domains[kind];
        if (value === undefined) continue;
        const key = membersKey(group, kind);
        const counts = this.members.get(key) ?? new Map<string, number>();
        const next = (counts.get(value) ?? 0) + delta;
        if (next === 0) counts.delete(value);
        else counts.set(value, next);
        if (counts.size === 0) this.members.delete(key);
        else this.members.set(key, counts);
      }
    }
  }
}

function addResources(into: Resources, r: Readonly<Resources>, sign: 1 | -1): void {
  into.cpu += sign * r.cpu;
  into.memory += sign * r.memory;
  into.pods += sign * r.pods;
}
