// Orders of a tenant in Approval mode: the webhook marks them approval-required at create, and the
// product controllers leave them unrealized, with condition Approved=False, until a tenant admin sets
// the approved-by annotation (which the webhook lets only holders of the `approve` verb do).
import { APPROVAL_REQUIRED, APPROVED_BY } from "../api/tenancy.ts";
import { getCondition } from "../runtime/conditions.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";

/**
 * Records the approval state in status. Returns undefined while the object must wait (nothing else
 * may be done for it yet); otherwise the object to go on with (an approved order gets Approved=True
 * once, and the caller must build later status writes on the object returned, which holds it).
 */
export async function approvalGate<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T): Promise<T | undefined> {
  const a = obj.metadata.annotations ?? {};
  if (a[APPROVAL_REQUIRED] !== "true") return obj;
  const by = a[APPROVED_BY];
  const conditions = (obj.status as { conditions?: Parameters<typeof getCondition>[0] } | undefined)?.conditions;
  if (by) {
    if (getCondition(conditions, "Approved")?.status === "True") return obj;
    return (await writeStatus(client, ref, obj, withCondition(obj, { type: "Approved", status: "True", reason: "Approved", message: `approved by ${by}` }))) ?? obj;
  }
  const message = `waiting for a tenant admin to approve: kubectl annotate ${ref.plural} ${obj.metadata.name} -n ${obj.metadata.namespace} ${APPROVED_BY}=<name>`;
  const approved = withCondition(obj, { type: "Approved", status: "False", reason: "AwaitingApproval", message });
  await writeStatus(client, ref, obj, withCondition({ ...obj, status: approved }, { type: "Ready", status: "False", reason: "AwaitingApproval", message }));
  return undefined;
}
