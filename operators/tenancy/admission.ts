// The admission decisions of the tenancy webhook (the HTTPS server is webhook.ts):
//   mutate   — a create in a tenant namespace gets the quota finalizer (so its delete releases
//              usage) and, for a tenant in Approval mode, the approval-required annotation;
//   validate — a create or a growing update is priced and deducted from the root tenant's ledger
//              (reserve, then the usage controller commits); references the tenant may not use are
//              refused; only a user allowed to `approve` may approve; Tenants and Quotas must fit
//              their tree.
import { createHash } from "node:crypto";
import { ADOPT_ANNOTATION, APPROVAL_REQUIRED, APPROVED_BY, CHARGE_ANNOTATION, QUOTA_FINALIZER, TENANT_LABEL, TenantRef, type ChargedKind, type Priced, type PricingContext, type QuotaObject, type TenantObject } from "../api/tenancy.ts";
import { allow, deny, patched, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import { NamespaceRef } from "../runtime/core.ts";
import { isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import { encodeCharge, quotaLimit, sameCharge, zoneRequired } from "./charges.ts";
import type { LedgerStore } from "./ledger-store.ts";
import { admit, ancestorsAndSelf, checkQuota, RESERVATION_TTL_MS, type Charge, type Ledger } from "./ledger.ts";
import type { TenancyView } from "./view.ts";

export { QUOTA_FINALIZER };

const NOT_SYNCED = "the CellCloud quota webhook has not synced its caches yet (the manager just started); retry in a few seconds";
const RESERVED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
/** JSON with object keys sorted, so two decodings of one spec compare equal. */
const canonical = (v: unknown): string =>
  v && typeof v === "object" && !Array.isArray(v)
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`
    : Array.isArray(v) ? `[${v.map(canonical).join(",")}]` : JSON.stringify(v) ?? "null";
const sameSpec = (a: KubeObject, b: KubeObject) => canonical((a as { spec?: unknown }).spec) === canonical((b as { spec?: unknown }).spec);
/**
 * A product's price for an object, never an exception: a spec that is missing or not an object
 * (spec: null reaches a mutating webhook before schema validation) is named, not crashed on.
 */
function priceOf(kind: ChargedKind, obj: KubeObject, ctx: PricingContext): Priced {
  const spec = (obj as { spec?: unknown }).spec;
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) return { denied: "spec: Required value: an object" };
  try {
    return kind.price(obj, ctx);
  } catch (e) {
    return { denied: `spec: cannot be priced (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** A short, fixed-length key of the object's name: one reservation per name. */
const nameKey = (req: AdmissionRequest) =>
  createHash("sha256").update(`${req.namespace}/${req.resource.group}/${req.resource.resource}/${req.name ?? req.object?.metadata.name ?? ""}`).digest("hex").slice(0, 16);

export class Admission {
  private readonly view: TenancyView;
  private readonly store: LedgerStore;
  private readonly client: KubeClient;

  private readonly reservationMs: number;
  private readonly now: () => number;
  private readonly systemNamespace: string | undefined;

  constructor(view: TenancyView, store: LedgerStore, client: KubeClient, opts: { reservationMs?: number; now?: () => number; systemNamespace?: string } = {}) {
    this.systemNamespace = opts.systemNamespace;
    this.view = view;
    this.store = store;
    this.client = client;
    this.reservationMs = opts.reservationMs ?? RESERVATION_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  // ---------------- mutating ----------------

  mutate(req: AdmissionRequest): AdmissionResponse {
    const obj = req.object;
    const kind = this.view.chargedKind(req.resource.group, req.resource.resource);
    if ((req.operation !== "CREATE" && req.operation !== "UPDATE") || req.subResource || !obj || !kind) return allow(req);
    if (!this.view.synced()) return deny(req, 503, "ServiceUnavailable", NOT_SYNCED);
    const tenant = this.view.tenantOf(req.namespace);
    if (!tenant) return allow(req);
    const finalizers = [...(obj.metadata.finalizers ?? [])];
    const annotations = { ...obj.metadata.annotations };
    if (req.operation === "CREATE") {
      // The quota finalizer releases usage on delete; the product's own one (an instance's, which
      // deletes its deleteWithInstance volumes) is there before anyone can delete the object.
      for (const f of [QUOTA_FINALIZER, ...(kind.finalizer ? [kind.finalizer] : [])]) if (!finalizers.includes(f)) finalizers.push(f);
      const approval = ancestorsAndSelf(this.view.tree(), tenant).some((t) => this.view.tenants.get(t)?.spec.orderMode === "Approval");
      if (approval) annotations[APPROVAL_REQUIRED] = "true";
    }
    // The charge annotation: what the object holds, set here only. An update that leaves the spec
    // alone keeps the old one (a later catalog change does not reprice it); others are repriced.
    const old = req.oldObject;
    const priced = old && sameSpec(old, obj) ? undefined : priceOf(kind, obj, this.view.pricing(req.namespace!, tenant));
    const charge = old && sameSpec(old, obj) ? old.metadata.annotations?.[CHARGE_ANNOTATION] : priced && "charge" in priced ? encodeCharge(priced.charge) : undefined;
    if (charge) annotations[CHARGE_ANNOTATION] = charge;
    const metadata = { ...obj.metadata, finalizers, annotations };
    if (!finalizers.length) delete (metadata as { finalizers?: string[] }).finalizers;
    if (!Object.keys(annotations).length) delete (metadata as { annotations?: Record<string, string> }).annotations;
    return patched(req, obj, { ...obj, metadata });
  }

  // ---------------- validating ----------------

  async validate(req: AdmissionRequest): Promise<AdmissionResponse> {
    const { group, resource } = req.resource;
    if (req.operation === "DELETE" && group === "tenancy.cellcloud.io" && resource === "tenants" && !req.subResource) {
      return this.gate(req, () => this.validateTenantDelete(req));
    }
    if (req.subResource || !req.object) return allow(req);
    if (group === "tenancy.cellcloud.io" && resource === "tenants") return this.gate(req, () => this.validateTenant(req, req.object as TenantObject));
    if (group === "tenancy.cellcloud.io" && resource === "quotas") return this.gate(req, () => this.validateQuota(req, req.object as QuotaObject));
    const kind = this.view.chargedKind(group, resource);
    if (!kind) return allow(req);
    return this.gate(req, () => {
      const tenant = this.view.tenantOf(req.namespace);
      return tenant ? this.validateCharged(req, kind, tenant, req.object!) : this.tenantUnknown(req);
    });
  }

  /**
   * The apiserver calls this webhook only for namespaces labelled for a tenant. A create (or a
   * spec change) there is never let through uncharged: while the namespace is not in the cache yet
   * it is refused for a retry, and a label naming no tenant (one just deleted) refuses it. An update
   * that leaves the spec alone (a finalizer removed) passes, so deletion never hangs.
   */
  private tenantUnknown(req: AdmissionRequest): AdmissionResponse {
    const old = req.oldObject;
    if (req.operation === "UPDATE" && old && sameSpec(old, req.object!)) return allow(req);
    const ns = req.namespace ? this.view.namespaces.get(req.namespace) : undefined;
    if (!ns) return deny(req, 503, "ServiceUnavailable", `the CellCloud quota webhook does not know namespace "${req.namespace}" yet; retry in a few seconds`);
    const label = ns.metadata.labels?.[TENANT_LABEL];
    return deny(req, 403, "Forbidden", `namespace "${req.namespace}" is labelled for tenant "${label}", which does not exist; nothing can be created there until the label names an existing tenant`);
  }

  private gate(req: AdmissionRequest, decide: () => AdmissionResponse | Promise<AdmissionResponse>): AdmissionResponse | Promise<AdmissionResponse> {
    return this.view.synced() ? decide() : deny(req, 503, "ServiceUnavailable", NOT_SYNCED);
  }

  private async validateCharged(req: AdmissionRequest, kind: ChargedKind, tenant: string, obj: KubeObject): Promise<AdmissionResponse> {
    const approvalDenied = await this.checkApproval(req, obj);
    if (approvalDenied) return approvalDenied;
    const old = req.operation === "UPDATE" ? req.oldObject : undefined;
    const uid = obj.metadata.uid;
    if (!uid) return deny(req, 400, "BadRequest", "the object has no metadata.uid to charge it by");
    const unchanged = old && sameSpec(old, obj) && old.metadata.annotations?.[CHARGE_ANNOTATION] === obj.metadata.annotations?.[CHARGE_ANNOTATION];
    // Being deleted, an object's charge is what its release will take back: it can no longer change.
    if (obj.metadata.deletionTimestamp) return unchanged ? allow(req) : deny(req, 422, "Invalid", "spec: the object is being deleted; its spec and charge can no longer change");
    if (unchanged) return allow(req);
    const tree = this.view.tree();
    const priced = priceOf(kind, obj, this.view.pricing(req.namespace!, tenant, tree));
    if ("denied" in priced) return deny(req, 422, "Invalid", priced.denied);
    const to = priced.charge;
    if (obj.metadata.annotations?.[CHARGE_ANNOTATION] !== encodeCharge(to)) {
      return deny(req, 422, "Invalid", `metadata.annotations["${CHARGE_ANNOTATION}"] is set by the CellCloud webhook only (expected "${encodeCharge(to)}")`);
    }
    const root = this.view.rootOf(tenant, tree);
    const held = this.held(kind, req, uid, root);
    if (typeof held === "string") return deny(req, 503, "ServiceUnavailable", held);
    if (held.from && sameCharge(held.from, to)) return allow(req);
    const quotas = this.view.quotaLimits();
    const noZone = zoneRequired(to, quotas, tree);
    if (noZone) return deny(req, 422, "Invalid", noZone);
    const change = { ...held, to, key: nameKey(req) };
    const decide = (ledger: Ledger, now: number) => admit(ledger, tree, quotas, uid, change, now, this.view.alive, this.reservationMs);
    const decision = req.dryRun
      ? decide(this.store.current(root), this.now())
      : await this.store.run(root, (ledger, now) => { const d = decide(ledger, now); return { ledger: d.allowed ? d.ledger : ledger, result: d }; });
    return decision.allowed ? allow(req) : deny(req, 403, "Forbidden", decision.message);
  }

  /**
   * What the object holds now, from this webhook's own state, never from the request: the charge of
   * the object its cache holds under that uid (an update), or nothing (a create of a new uid). An
   * update of an object the cache does not show yet, or a create of a uid it already holds, is
   * refused (the caller retries), so a forged review cannot lower or double a tenant's usage.
   */
  private held(kind: ChargedKind, req: AdmissionRequest, uid: string, root: string): { from?: Charge } | string {
    const cached = this.view.byUid(uid);
    if (req.operation === "CREATE") return cached ? `an object with uid ${uid} exists already` : {};
    if (!cached) {
      const pending = this.store.current(root).pending[uid];
      return pending ? { from: pending.to } : "the CellCloud quota webhook has not seen this object yet; retry in a few seconds";
    }
    const tenant = this.view.tenantOf(cached.metadata.namespace) ?? "";
    const from = this.view.chargeOf(kind, cached, this.view.pricing(cached.metadata.namespace ?? "", tenant));
    return from ? { from } : {};
  }

  /** Setting or clearing the approval annotations needs the `approve` verb on the kind in that namespace. */
  private async checkApproval(req: AdmissionRequest, obj: KubeObject): Promise<AdmissionResponse | undefined> {
    const now = obj.metadata.annotations ?? {};
    const before = req.oldObject?.metadata.annotations ?? {};
    const approvedChanged = (now[APPROVED_BY] ?? "") !== (before[APPROVED_BY] ?? "");
    const requirementDropped = req.operation === "UPDATE" && before[APPROVAL_REQUIRED] === "true" && now[APPROVAL_REQUIRED] !== "true";
    if (!approvedChanged && !requirementDropped) return undefined;
    const review = await this.client.request<{ status?: { allowed?: boolean } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      body: {
        apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview",
        spec: {
          user: req.userInfo.username, uid: req.userInfo.uid, groups: req.userInfo.groups, extra: req.userInfo.extra,
          resourceAttributes: { namespace: req.namespace, verb: "approve", group: req.resource.group, resource: req.resource.resource, name: req.name },
        },
      },
    });
    if (review.status?.allowed) return undefined;
    const what = approvedChanged ? `metadata.annotations["${APPROVED_BY}"]` : `metadata.annotations["${APPROVAL_REQUIRED}"]`;
    return deny(req, 403, "Forbidden",
      `${what}: user "${req.userInfo.username}" may not approve ${req.resource.resource} in namespace ${req.namespace}; a tenant admin (ClusterRole cellcloud-tenant-admin) approves orders`);
  }

  /** A tenant the cache does not show yet may have been created a moment ago (kubectl apply of one file): ask. */
  private async tenantExists(name: string): Promise<boolean> {
    if (this.view.tenants.get(name)) return true;
    return this.client.get(TenantRef, name).then(() => true, (e: unknown) => (isNotFound(e) ? false : Promise.reject(e)));
  }

  private async validateTenant(req: AdmissionRequest, t: TenantObject): Promise<AdmissionResponse> {
    const name = t.metadata.name;
    if (req.operation === "CREATE" && t.spec.parent) {
      if (t.spec.parent === name) return deny(req, 422, "Invalid", `spec.parent: a tenant cannot be its own parent`);
      if (!(await this.tenantExists(t.spec.parent))) return deny(req, 422, "Invalid", `spec.parent: Tenant "${t.spec.parent}" not found; create the parent first`);
    }
    for (const ns of t.spec.namespaces ?? []) {
      const why = await this.unclaimable(ns, name);
      if (why) return deny(req, 422, "Invalid", `spec.namespaces: ${why}`);
    }
    return allow(req);
  }

  /**
   * Why `tenant` may not have namespace `ns`: it is the platform's, another tenant's, or an existing
   * namespace no cluster admin gave it (annotation tenancy.cellcloud.io/adopt=<tenant>): binding the
   * tenant's admins there would hand them what is in it, Secrets included.
   */
  private async unclaimable(ns: string, tenant: string): Promise<string | undefined> {
    if (RESERVED_NAMESPACES.includes(ns) || ns === this.systemNamespace) return `namespace "${ns}" is reserved for the platform`;
    const other = this.view.tenants.list().find((x) => x.metadata.name !== tenant && (x.spec.namespaces ?? []).includes(ns));
    const cached = this.view.namespaces.get(ns);
    const labelled = cached?.metadata.labels?.[TENANT_LABEL];
    const owner = other?.metadata.name ?? (labelled && labelled !== tenant && this.view.tenants.get(labelled) ? labelled : undefined);
    if (owner) return `namespace "${ns}" already belongs to tenant "${owner}"`;
    if (labelled === tenant) return undefined;
    const existing = cached ?? await this.client.get(NamespaceRef, ns).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (!existing || existing.metadata.annotations?.[ADOPT_ANNOTATION] === tenant) return undefined;
    return `namespace "${ns}" exists and is not a tenant namespace; a cluster admin may hand it over with: kubectl annotate namespace ${ns} ${ADOPT_ANNOTATION}=${tenant}`;
  }

  /** A tenant with departments cannot go: they would lose their parent (and their quotas' ceiling). */
  private validateTenantDelete(req: AdmissionRequest): AdmissionResponse {
    const name = req.name ?? req.oldObject?.metadata.name ?? "";
    const departments = this.view.tenants.list().filter((t) => t.spec.parent === name).map((t) => t.metadata.name).sort();
    if (!departments.length) return allow(req);
    return deny(req, 409, "Conflict", `Tenant "${name}" has departments (${departments.join(", ")}): delete them first`);
  }

  private async validateQuota(req: AdmissionRequest, q: QuotaObject): Promise<AdmissionResponse> {
    if (!(await this.tenantExists(q.spec.tenant))) return deny(req, 422, "Invalid", `spec.tenant: Tenant "${q.spec.tenant}" not found`);
    const tree = new Map(this.view.tree());
    if (!tree.has(q.spec.tenant)) tree.set(q.spec.tenant, (await this.client.get<TenantObject>(TenantRef, q.spec.tenant)).spec.parent);
    const limit = quotaLimit(q.metadata.name, q.spec);
    const others = this.view.quotaLimits().filter((x) => x.name !== limit.name);
    const twin = others.find((x) => x.tenant === limit.tenant && (x.zone ?? "") === (limit.zone ?? "") && (x.arch ?? "") === (limit.arch ?? ""));
    if (twin) {
      const scope = `${limit.zone ? `zone ${limit.zone}` : "every zone"}, ${limit.arch ?? "every architecture"}`;
      return deny(req, 422, "Invalid", `spec: tenant "${limit.tenant}" already has quota "${twin.name}" for ${scope}; edit that one`);
    }
    const why = checkQuota(limit, [...others, limit], tree);
    return why ? deny(req, 422, "Invalid", `spec.hard: ${why}`) : allow(req);
  }
}
