// What RBAC sees in a REST call: the API group, the resource (with its subresource) and the verb,
// as the apiserver's request-info resolver derives them. Lets a test prove from the manager's own
// request log that every permission the chart grants is used.
import type { Query } from "./kube.ts";

export interface RequestAttributes {
  group: string;
  resource: string; // "pods", "pods/binding"
  verb: string; // get list watch create update patch delete deletecollection
}

/** Undefined for paths outside the resource API (/version, /healthz, discovery). */
export function requestAttributes(method: string, path: string, query: Query = {}): RequestAttributes | undefined {
  const parts = path.split("?")[0]!.split("/").filter(Boolean);
  let rest: string[];
  let group: string;
  if (parts[0] === "api" && parts.length >= 3) {
    group = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  // namespaces/<ns>/<resource>… is a namespaced resource; namespaces[/<name>[/<sub>]] is the Namespace kind itself.
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  if (!resource) return undefined;
  const watch = query.watch === true || query.watch === "true";
  const verb = ({
    GET: name ? "get" : watch ? "watch" : "list",
    POST: "create",
    PUT: "update",
    PATCH: "patch",
    DELETE: name ? "delete" : "deletecollection",
  } as Record<string, string>)[method.toUpperCase()];
  if (!verb) return undefined;
  return { group, resource: sub ? `${resource}/${sub}` : resource, verb };
}
