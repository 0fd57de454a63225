// What each verb does against the apiserver. Parsing, help and completion live elsewhere; a verb here
// gets a connected client and its parsed command line, writes to `out` and throws CliError on failure.
import {
  APPROVAL_REQUIRED, APPROVED_BY, CELLCLOUD_GROUP_SUFFIX, CellRef, CONSOLE_CONFIGMAP, CONSOLE_URL_ENV, ConfigMapRef, FIELD_MANAGER,
  InstanceRef, NodePoolRef, QuotaRef, AppliedQuotaRef, TenantRef, type InstanceObj, type Obj, type PowerState, type ResourceRef,
} from "./api.ts";
import { parseDuration, type CommandLine } from "./args.ts";
import { failure, instanceId, migrated, patchInstance, rebooted, requestTime, resized, settledIn, waitFor, type Settled } from "./instances.ts";
import { ApiError, CliError, isNotFound, type Client } from "./kube.ts";
import { capacityReport, quotaTree, table, type CellView, type PoolView, type QuotaView, type TenantView } from "./render.ts";

export interface Io { out(text: string): void; err(text: string): void; now(): Date }

export type Command = (client: Client, line: CommandLine, io: Io) => Promise<void>;

const opt = (line: CommandLine, k: string) => (typeof line.options[k] === "string" ? (line.options[k] as string) : undefined);
const waitMs = (line: CommandLine) => { const w = opt(line, "wait"); return w === undefined ? undefined : parseDuration("--wait", w); };

/** Runs `each` for every name, reporting failures as they come; fails at the end if any did (as kubectl does). */
async function forEach(names: string[], io: Io, each: (name: string) => Promise<void>): Promise<void> {
  let failed = 0;
  for (const name of names) {
    try {
      await each(name);
    } catch (e) {
      if (!(e instanceof CliError) || names.length === 1) throw e;
      io.err(`error: ${e.message}\n`);
      failed++;
    }
  }
  if (failed) throw new CliError("Failed", `${failed} of ${names.length} failed`);
}

interface Change { field: string; spec: Record<string, unknown>; said: string; wait: (patched: InstanceObj) => { what: string; done: Settled } }

function instanceVerb(change: (line: CommandLine, io: Io) => Change): Command {
  return async (client, line, io) => {
    const ns = client.namespace;
    const timeout = waitMs(line);
    const c = change(line, io);
    await forEach(line.args, io, async (name) => {
      const patched = await patchInstance(client, ns, name, c.field, c.spec);
      io.out(`instance/${name} ${c.said}\n`);
      if (timeout === undefined) return;
      const w = c.wait(patched);
      const i = await waitFor(client, ns, name, w.what, w.done, timeout);
      io.out(`instance/${name} ${i.status?.powerState ?? ""}${i.status?.nodeName ? ` on ${i.status.nodeName}` : ""}\n`);
    });
  };
}

const power = (state: PowerState, verb: string): Command => instanceVerb(() => ({
  field: "spec.powerState", spec: { powerState: state }, said: `${verb} (spec.powerState: ${state})`,
  wait: () => ({ what: `status.powerState ${state}`, done: settledIn(state) }),
}));

const reboot: Command = instanceVerb((_line, io) => {
  const at = requestTime(io.now());
  return {
    field: "spec.restartRequestedAt", spec: { restartRequestedAt: at }, said: `reboot requested (spec.restartRequestedAt: ${at})`,
    wait: (patched) => ({ what: "a reboot (a new launcher, Running)", done: rebooted(patched) }),
  };
});

const migrate: Command = instanceVerb((line, io) => {
  const at = requestTime(io.now());
  const to = opt(line, "to");
  return {
    field: "spec.migration", spec: { migration: { requestedAt: at, targetNode: to ?? null } },
    said: `migration requested (spec.migration.requestedAt: ${at}${to ? `, targetNode: ${to}` : ""})`,
    wait: () => ({ what: `status.migration (requestedAt ${at}) Succeeded`, done: migrated(at) }),
  };
});

const resize: Command = instanceVerb((line) => {
  const flavor = opt(line, "flavor");
  const cpus = opt(line, "cpus");
  const memory = opt(line, "memory");
  if (flavor && (cpus || memory)) throw new CliError("InvalidFlag", "resize: --flavor and --cpus/--memory exclude each other: an instance has a flavor or a custom size");
  if (!flavor && !cpus && !memory) throw new CliError("InvalidFlag", "resize: pass --flavor FLAVOR, or --cpus N and --memory SIZE");
  if (cpus !== undefined && !/^\d+$/.test(cpus)) throw new CliError("InvalidFlag", `--cpus: expected a whole number of vCPUs, got "${cpus}"`);
  if (flavor) {
    return { field: "spec.flavor", spec: { flavor, resources: null }, said: `resize requested (spec.flavor: ${flavor})`, wait: () => ({ what: "Ready at the new size", done: resized }) };
  }
  const resources = { ...(cpus ? { vcpus: Number(cpus) } : {}), ...(memory ? { memory } : {}) };
  return {
    field: "spec.resources", spec: { resources, flavor: null },
    said: `resize requested (spec.resources: ${Object.entries(resources).map(([k, v]) => `${k}=${v}`).join(", ")})`,
    wait: () => ({ what: "Ready at the new size", done: resized }),
  };
});

/** The console's base URL: the flag, the environment, or the ConfigMap the console publishes. */
export async function consoleBase(client: Client, flag: string | undefined, env = process.env): Promise<string> {
  const base = flag ?? env[CONSOLE_URL_ENV];
  if (base) return base.replace(/\/+$/, "");
  const { namespace, name, key } = CONSOLE_CONFIGMAP;
  const where = `configmap ${namespace}/${name}`;
  let cm: { data?: Record<string, string> };
  try {
    cm = await client.get(ConfigMapRef, name, namespace);
  } catch (e) {
    if (isNotFound(e)) {
      throw new CliError("NoConsole", `no console URL: ${where} not found (the console publishes it when installed); pass --console-url or set $${CONSOLE_URL_ENV}`);
    }
    throw failure(where, `data.${key}`, e);
  }
  const url = cm.data?.[key]?.trim();
  if (!url) throw new CliError("NoConsole", `${where}: data.${key} is empty; pass --console-url or set $${CONSOLE_URL_ENV}`);
  return url.replace(/\/+$/, "");
}

export const consoleUrl = (base: string, namespace: string, name: string) =>
  `${base}/#/ns/${encodeURIComponent(namespace)}/instances/${encodeURIComponent(name)}`;

const consoleUrlVerb: Command = async (client, line, io) => {
  const name = line.args[0] ?? "";
  const base = await consoleBase(client, opt(line, "console-url"));
  try {
    await client.get(InstanceRef, name, client.namespace);
  } catch (e) {
    throw failure(instanceId(client.namespace, name), "metadata.name", e);
  }
  io.out(`${consoleUrl(base, client.namespace, name)}\n`);
};

// ==================== Orders ====================

export interface KindInfo { ref: ResourceRef; singular: string; shortNames: string[] }

interface APIGroupList { groups?: Array<{ name: string; preferredVersion?: { groupVersion: string; version: string } }> }
interface APIResourceList { resources?: Array<{ name: string; singularName?: string; namespaced: boolean; kind: string; shortNames?: string[]; verbs?: string[] }> }

/** The namespaced kinds of every *.cellcloud.io group, from the apiserver's discovery (so new products count at once). */
export async function orderKinds(client: Client): Promise<KindInfo[]> {
  const groups = (await client.request<APIGroupList>("GET", "/apis")).groups ?? [];
  const lists = await Promise.all(groups.filter((g) => g.name.endsWith(CELLCLOUD_GROUP_SUFFIX) && g.preferredVersion).map(async (g) => {
    const v = g.preferredVersion!;
    const rl = await client.request<APIResourceList>("GET", `/apis/${v.groupVersion}`);
    return (rl.resources ?? []).filter((r) => r.namespaced && !r.name.includes("/") && r.verbs?.includes("patch")).map((r): KindInfo => ({
      ref: { group: g.name, version: v.version, kind: r.kind, plural: r.name, namespaced: true },
      singular: r.singularName || r.kind.toLowerCase(), shortNames: r.shortNames ?? [],
    }));
  }));
  return lists.flat().sort((a, b) => a.singular.localeCompare(b.singular));
}

/** A kind as kubectl takes it: kind, singular, plural or short name, optionally with ".group". */
export function resolveKind(kinds: KindInfo[], word: string): KindInfo | undefined {
  const w = word.toLowerCase();
  const [name, ...rest] = w.split(".");
  const group = rest.join(".");
  return kinds.find((k) => (!group || k.ref.group === group) && [k.ref.kind.toLowerCase(), k.singular, k.ref.plural, ...k.shortNames].includes(name ?? ""));
}

/** The user the apiserver sees (SelfSubjectReview), the default approver. */
async function whoAmI(client: Client): Promise<string> {
  try {
    const r = await client.request<{ status?: { userInfo?: { username?: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    if (r.status?.userInfo?.username) return r.status.userInfo.username;
  } catch { /* older apiserver or no permission: ask for --by */ }
  throw new CliError("NoApprover", "approve: cannot tell who you are (SelfSubjectReview failed); pass --by NAME");
}

const waiting = (o: Obj) => o.metadata.annotations?.[APPROVAL_REQUIRED] === "true" && !o.metadata.annotations[APPROVED_BY];

export interface Order { kind: string; namespace: string; name: string; created?: string }

/** Every object waiting for approval in `namespace` (undefined: all namespaces) that the user may list. */
export async function waitingOrders(client: Client, namespace: string | undefined): Promise<Order[]> {
  const kinds = await orderKinds(client);
  const found = await Promise.all(kinds.map(async (k) => {
    try {
      return (await client.list<Obj>(k.ref, namespace)).filter(waiting).map((o): Order => ({
        kind: k.singular, namespace: o.metadata.namespace ?? "", name: o.metadata.name, ...(o.metadata.creationTimestamp ? { created: o.metadata.creationTimestamp } : {}),
      }));
    } catch (e) {
      if (e instanceof ApiError && (e.code === 403 || e.code === 404)) return []; // kinds this user may not list
      throw e;
    }
  }));
  return found.flat().sort((a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}

export function age(created: string | undefined, now: Date): string {
  if (!created) return "";
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const listOrders: Command = async (client, line, io) => {
  const ns = line.allNamespaces ? undefined : client.namespace;
  const orders = await waitingOrders(client, ns);
  if (!orders.length) {
    io.err(`No orders waiting for approval ${ns ? `in namespace ${ns}` : "in any namespace"}.\n`);
    return;
  }
  const rows = orders.map((o) => [...(ns ? [] : [o.namespace]), `${o.kind}/${o.name}`, age(o.created, io.now())]);
  io.out(table([...(ns ? [] : ["NAMESPACE"]), "ORDER", "AGE"], rows));
};

const approve: Command = async (client, line, io) => {
  if (line.options.list === true) return listOrders(client, line, io);
  if (!line.args.length) throw new CliError("InvalidArguments", "approve: expected KIND/NAME... (e.g. instance/web-1), or --list");
  if (line.allNamespaces) throw new CliError("InvalidFlag", "-A/--all-namespaces: approve acts on orders of one namespace (-n); -A goes with --list");
  const ns = client.namespace;
  const kinds = await orderKinds(client);
  const by = opt(line, "by") ?? (await whoAmI(client));
  await forEach(line.args, io, async (arg) => {
    const slash = arg.indexOf("/");
    if (slash <= 0 || slash === arg.length - 1) throw new CliError("InvalidArguments", `approve: expected KIND/NAME (e.g. instance/web-1), got "${arg}"`);
    const kind = resolveKind(kinds, arg.slice(0, slash));
    const name = arg.slice(slash + 1);
    if (!kind) throw new CliError("UnknownKind", `approve: "${arg.slice(0, slash)}" is not a namespaced CellCloud kind (known: ${kinds.map((k) => k.singular).join(", ")})`);
    const id = `${kind.singular} ${ns}/${name}`;
    let obj: Obj;
    try {
      obj = await client.get<Obj>(kind.ref, name, ns);
    } catch (e) {
      throw failure(id, "metadata.name", e);
    }
    const a = obj.metadata.annotations ?? {};
    if (a[APPROVAL_REQUIRED] !== "true") {
      throw new CliError("NotAnOrder", `${id}: metadata.annotations["${APPROVAL_REQUIRED}"] is not "true": it does not wait for approval (its tenant is not in Approval mode, or it was created before)`);
    }
    if (a[APPROVED_BY]) {
      io.out(`${kind.singular}/${name} already approved by ${a[APPROVED_BY]}\n`);
      return;
    }
    try {
      await client.patch(kind.ref, name, ns, { metadata: { annotations: { [APPROVED_BY]: by } } }, FIELD_MANAGER);
    } catch (e) {
      throw failure(id, `metadata.annotations["${APPROVED_BY}"]`, e);
    }
    io.out(`${kind.singular}/${name} approved by ${by}\n`);
  });
};

// ==================== Quota and capacity ====================

interface TenantObj extends Obj { spec?: { parent?: string; orderMode?: string } }
interface QuotaObj extends Obj { spec?: { tenant: string; zone?: string; architecture?: string; hard?: Record<string, string | number> }; status?: { used?: Record<string, string>; reserved?: Record<string, string> } }

export const tenantView = (t: TenantObj): TenantView => ({ name: t.metadata.name, ...(t.spec?.parent ? { parent: t.spec.parent } : {}), ...(t.spec?.orderMode ? { orderMode: t.spec.orderMode } : {}) });
export const quotaView = (q: QuotaObj): QuotaView => ({
  name: q.metadata.name, tenant: q.spec?.tenant ?? "", hard: q.spec?.hard ?? {}, used: q.status?.used ?? {}, reserved: q.status?.reserved ?? {},
  ...(q.spec?.zone ? { zone: q.spec.zone } : {}), ...(q.spec?.architecture ? { architecture: q.spec.architecture } : {}),
});

interface AppliedQuotaObj extends QuotaObj { spec?: QuotaObj["spec"] & { path?: string } }

/**
 * The tenant tree as a namespace's AppliedQuotas show it (what a tenant's users may read): each
 * carries its quota and its tenant's chain from the root ("acme/research/ml").
 */
export function fromApplied(items: AppliedQuotaObj[]): { tenants: TenantView[]; quotas: QuotaView[] } {
  const parents = new Map<string, string | undefined>();
  for (const aq of items) {
    const chain = (aq.spec?.path ?? aq.spec?.tenant ?? "").split("/").filter(Boolean);
    chain.forEach((t, i) => { if (!parents.has(t) || i > 0) parents.set(t, i ? chain[i - 1] : parents.get(t)); });
  }
  const tenants = [...parents].map(([name, parent]) => ({ name, ...(parent ? { parent } : {}) }));
  return { tenants, quotas: items.map((aq) => ({ ...quotaView(aq), name: (aq.spec as { quota?: string } | undefined)?.quota ?? aq.metadata.name })) };
}

const quota: Command = async (client, line, io) => {
  let tenants: TenantView[], quotas: QuotaView[];
  try {
    const [t, q] = await Promise.all([client.list<TenantObj>(TenantRef), client.list<QuotaObj>(QuotaRef)]);
    tenants = t.map(tenantView);
    quotas = q.map(quotaView);
  } catch (e) {
    // a tenant's user may not read cluster-scoped Tenants and Quotas: the namespace's AppliedQuotas show their tree
    if (!(e instanceof ApiError && e.code === 403)) throw e;
    ({ tenants, quotas } = fromApplied(await client.list<AppliedQuotaObj>(AppliedQuotaRef, client.namespace)));
  }
  const root = line.args[0];
  if (!tenants.length) {
    io.err("No tenants found.\n");
    return;
  }
  const out = quotaTree(tenants, quotas, root);
  if (out === undefined) throw new CliError("NotFound", `tenant ${root}: tenants.tenancy.cellcloud.io "${root}" not found`);
  io.out(out);
};

interface CellObj extends Obj { spec?: { region?: string; zone?: string; placementStrategy?: string }; status?: Omit<CellView, "name" | "region" | "zone" | "strategy"> }
interface NodePoolObj extends Obj {
  spec?: { cell: string; architecture: string; cpuVendor?: string; nodes?: number; capacity?: { cpu?: string; memory?: string }; overcommit?: { cpu?: number; memory?: number } };
  status?: { nodes?: number; readyNodes?: number };
}

export const cellView = (c: CellObj): CellView => ({
  name: c.metadata.name, ...(c.status ?? {}),
  ...(c.spec?.region ? { region: c.spec.region } : {}), ...(c.spec?.zone ? { zone: c.spec.zone } : {}), ...(c.spec?.placementStrategy ? { strategy: c.spec.placementStrategy } : {}),
});

export const poolView = (p: NodePoolObj): PoolView => ({
  name: p.metadata.name, cell: p.spec?.cell ?? "", architecture: p.spec?.architecture ?? "",
  ...(p.spec?.cpuVendor ? { cpuVendor: p.spec.cpuVendor } : {}), ...(p.spec?.nodes !== undefined ? { desired: p.spec.nodes } : {}),
  ...(p.status?.nodes !== undefined ? { current: p.status.nodes } : {}), ...(p.status?.readyNodes !== undefined ? { ready: p.status.readyNodes } : {}),
  ...(p.spec?.capacity?.cpu ? { cpu: String(p.spec.capacity.cpu) } : {}), ...(p.spec?.capacity?.memory ? { memory: String(p.spec.capacity.memory) } : {}),
  ...(p.spec?.overcommit ? { overcommit: p.spec.overcommit } : {}),
});

const capacity: Command = async (client, line, io) => {
  const [cells, pools] = await Promise.all([client.list<CellObj>(CellRef), client.list<NodePoolObj>(NodePoolRef)]);
  const only = line.args[0];
  const shown = only ? cells.filter((c) => c.metadata.name === only) : cells;
  if (only && !shown.length) throw new CliError("NotFound", `cell ${only}: cells.platform.cellcloud.io "${only}" not found`);
  if (!shown.length) {
    io.err("No cells found.\n");
    return;
  }
  io.out(capacityReport(shown.map(cellView), pools.map(poolView)));
};

export const commands: Record<string, Command> = {
  start: power("Running", "start requested"),
  stop: power("Stopped", "stop requested"),
  pause: power("Paused", "pause requested"),
  reboot,
  migrate,
  resize,
  "console-url": consoleUrlVerb,
  approve,
  orders: listOrders,
  quota,
  capacity,
};
