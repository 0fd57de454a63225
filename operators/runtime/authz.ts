// Who is calling an HTTP endpoint of the manager, and may they: the bearer token is checked by the
// apiserver (TokenReview) and the permission by RBAC (SubjectAccessReview), so an endpoint shows a
// user exactly what kubectl would. The token itself is never logged or kept.
import type { KubeClient } from "./kube.ts";

export interface ResourceAttributes { namespace?: string; verb: string; group: string; resource: string; name?: string }
export type Authorized = { allowed: true; user: string } | { allowed: false; code: 401 | 403; message: string };

const MAX_TOKEN = 16 * 1024;

/** `authorization` is the request's Authorization header. */
export async function authorize(client: KubeClient, authorization: string | undefined, attrs: ResourceAttributes): Promise<Authorized> {
  const m = /^Bearer ([!-~]+)$/.exec(authorization ?? "");
  if (!m || m[1]!.length > MAX_TOKEN) return { allowed: false, code: 401, message: "a bearer token is required (Authorization: Bearer <token>)" };
  const review = await client.request<{ status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } } }>(
    "POST", "/apis/authentication.k8s.io/v1/tokenreviews", { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token: m[1] } } });
  const user = review.status?.user;
  if (!review.status?.authenticated || !user?.username) return { allowed: false, code: 401, message: "the token was not accepted by the apiserver" };
  const sar = await client.request<{ status?: { allowed?: boolean } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
    body: {
      apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview",
      spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: attrs },
    },
  });
  if (!sar.status?.allowed) {
    const where = attrs.namespace ? ` in namespace ${attrs.namespace}` : "";
    return { allowed: false, code: 403, message: `user "${user.username}" may not ${attrs.verb} ${attrs.resource}${attrs.name ? ` ${attrs.name}` : ""}${where}` };
  }
  return { allowed: true, user: user.username };
}
