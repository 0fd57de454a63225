// Orders of a tenant in Approval mode: the webhook marks them approval-required at create, and every
// product's managed reconciler holds them at this gate, with condition Approved=False, until a
// tenant admin sets the approved-by annotation (which the webhook lets only holders of the
// `approve` verb do). Tenancy registers the gate; products never import it.
import { APPROVAL_REQUIRED, APPROVED_BY } from "../api/tenancy.ts";
import type { Gate } from "../runtime/managed.ts";
import type { KubeObject } from "../runtime/types.ts";

export const approvalGate: Gate<KubeObject> = {
  check(obj) {
    const a = obj.metadata.annotations ?? {};
    if (a[APPROVAL_REQUIRED] !== "true") return { open: true };
    const by = a[APPROVED_BY];
    if (by) return { open: true, condition: { type: "Approved", status: "True", reason: "Approved", message: `approved by ${by}` } };
    const kind = (obj.kind ?? "object").toLowerCase();
    const message = `waiting for a tenant admin to approve: kubectl annotate ${kind} ${obj.metadata.name} -n ${obj.metadata.namespace} ${APPROVED_BY}=<name>`;
    return { open: false, condition: { type: "Approved", status: "False", reason: "AwaitingApproval", message } };
  },
};
