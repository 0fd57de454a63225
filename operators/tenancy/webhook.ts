// Tenancy's admission webhooks, served by the runtime's webhook server: quota (every charged kind
// the products registered, in tenant namespaces), tree rules for Tenants and Quotas, and the
// mutating defaults (quota finalizer, approval, the charge annotation).
import { TENANT_LABEL } from "../api/tenancy.ts";
import type { WebhookServer } from "../runtime/webhook.ts";
import type { RuleWithOperations } from "../runtime/webhook-config.ts";
import { Admission } from "./admission.ts";
import type { Tenancy } from "./shared.ts";

const VALIDATE_PATH = "/tenancy/validate";
export const MUTATE_PATH = "/tenancy/mutate";

export function registerTenancyWebhooks(server: WebhookServer, { view }: Tenancy, admission: Admission): void {
  const products: RuleWithOperations[] = [...view.charged.keys()].map((k) => ({
    apiGroups: [k.ref.group], apiVersions: ["*"], resources: [k.ref.plural], operations: ["CREATE", "UPDATE"], scope: "Namespaced",
  }));
  const tenantNamespaces = { matchExpressions: [{ key: TENANT_LABEL, operator: "Exists" as const }] };
  server.register(VALIDATE_PATH, "validating", [
    { name: "quota.tenancy.cellcloud.io", rules: products, namespaceSelector: tenantNamespaces, sideEffects: "NoneOnDryRun" },
    {
      name: "tree.tenancy.cellcloud.io", sideEffects: "None",
      rules: [
        { apiGroups: ["tenancy.cellcloud.io"], apiVersions: ["*"], resources: ["tenants"], operations: ["CREATE", "UPDATE", "DELETE"], scope: "Cluster" },
        { apiGroups: ["tenancy.cellcloud.io"], apiVersions: ["*"], resources: ["quotas"], operations: ["CREATE", "UPDATE"], scope: "Cluster" },
      ],
    },
  ], (req) => admission.validate(req));
  server.register(MUTATE_PATH, "mutating", [
    { name: "defaults.tenancy.cellcloud.io", rules: products, namespaceSelector: tenantNamespaces },
  ], (req) => admission.mutate(req));
}
