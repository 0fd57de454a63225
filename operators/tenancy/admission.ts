// The admission decisions of the tenancy webhook (the HTTPS server is webhook.ts):
//   mutate   — a create in a tenant namespace gets the quota finalizer (so its delete releases
//              usage) and, for a tenant in Approval mode, the approval-required annotation;
//   validate — a create or a growing update is priced and deducted from the root tenant's ledger
//              (reserve, then the usage controller commits); references the tenant may not use are
//              refused; only a user allowed to `approve` may approve; Tenants and Quotas must fit
//              their tree.
import { APPROVAL_REQUIRED, APPROVED_BY, CHARGE_ANNOTATION, QUOTA_FINALIZER, TENANT_LABEL, TenantRef, type ChargedKind, type QuotaObject, type TenantObject } from "../api/tenancy.ts";
import { allow, deny, patched, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import { isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import { encodeCharge, quotaLimit, sameCharge, zoneRequired } from "./charges.ts";
import type { LedgerStore } from "./ledger-store.ts";
import { admit, ancestorsAndSelf, checkQuota, RESERVATION_TTL_MS, type Admission as Decision } from "./ledger.ts";
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

export class Admission {
  private readonly view: TenancyView;
  private readonly store: LedgerStore;
  private readonly client: KubeClient;

  private readonly reservationMs: number;
  private readonly now: () => number;

  constructor(view: TenancyView, store: LedgerStore, client: KubeClient, opts: { reservationMs?: number; now?: () => number } = {}) {
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
    const priced = old && sameSpec(old, obj) ? undefined : kind.price(obj, this.view.pricing(req.namespace!, tenant));
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
    const tenant = this.view.tenantOf(req.namespace);
    if (!kind || !tenant) return allow(req);
    return this.gate(req, () => this.validateCharged(req, kind, tenant, req.object!));
  }

  private gate(req: AdmissionRequest, decide: () => AdmissionResponse | Promise<AdmissionResponse>): AdmissionResponse | Promise<AdmissionResponse> {
    return this.view.synced() ? decide() : deny(req, 503, "ServiceUnavailable", NOT_SYNCED);
  }

  private async validateCharged(req: AdmissionRequest, kind: ChargedKind, tenant: string, obj: KubeObject): Promise<AdmissionResponse> {
    const approvalDenied = await this.checkApproval(req, obj);
    if (approvalDenied) return approvalDenied;
    if (obj.metadata.deletionTimestamp) return allow(req); // finalizers being removed: nothing to charge
    const tree = this.view.tree();
    const pricing = this.view.pricing(req.namespace!, tenant, tree);
    const old = req.operation === "UPDATE" ? req.oldObject : undefined;
    if (old && sameSpec(old, obj) && old.metadata.annotations?.[CHARGE_ANNOTATION] === obj.metadata.annotations?.[CHARGE_ANNOTATION]) return allow(req);
    const priced = kind.price(obj, pricing);
    if ("denied" in priced) return deny(req, 422, "Invalid", priced.denied);
    const to = priced.charge;
    if (obj.metadata.annotations?.[CHARGE_ANNOTATION] !== encodeCharge(to)) {
      return deny(req, 422, "Invalid", `metadata.annotations["${CHARGE_ANNOTATION}"] is set by the CellCloud webhook only (expected "${encodeCharge(to)}")`);
    }
    const from = old ? this.view.chargeOf(kind, old, pricing) : undefined;
    if (from && sameCharge(from, to)) return allow(req);
    const quotas = this.view.quotaLimits();
    const noZone = zoneRequired(to, quotas, tree);
    if (noZone) return deny(req, 422, "Invalid", noZone);
    const uid = obj.metadata.uid;
    if (!uid) return deny(req, 500, "InternalError", "the object has no metadata.uid to charge it by");
    const root = this.view.rootOf(tenant, tree);
    let decision: Decision;
    const change = { ...(from ? { from } : {}), to };
    if (req.dryRun) decision = admit(this.store.current(root), tree, quotas, uid, change, this.now(), this.view.alive, this.reservationMs);
    else {
      decision = await this.store.run(root, (ledger, now) => {
        const d = admit(ledger, tree, quotas, uid, change, now, this.view.alive, this.reservationMs);
        return { ledger: d.allowed ? d.ledger : ledger, result: d };
      });
    }
    return decision.allowed ? allow(req) : deny(req, 403, "Forbidden", decision.message);
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
      if (RESERVED_NAMESPACES.includes(ns)) return deny(req, 422, "Invalid", `spec.namespaces: namespace "${ns}" is reserved for the platform`);
      const other = this.view.tenants.list().find((x) => x.metadata.name !== name && (x.spec.namespaces ?? []).includes(ns));
      const labelled = this.view.namespaces.get(ns)?.metadata.labels?.[TENANT_LABEL];
      const owner = other?.metadata.name ?? (labelled && labelled !== name && this.view.tenants.get(labelled) ? labelled : undefined);
      if (owner) return deny(req, 422, "Invalid", `spec.namespaces: namespace "${ns}" already belongs to tenant "${owner}"`);
    }
    return allow(req);
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
