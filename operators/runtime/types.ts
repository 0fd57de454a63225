// Keys and API versions of the object shapes in api/meta.ts, which this file re-exports for the runtime.
import type { KubeObject, ObjectMeta, OwnerReference, ResourceRef } from "../api/meta.ts";

export type { KubeObject, ObjectMeta, OwnerReference, ResourceRef };

export function apiVersionOf(ref: ResourceRef): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}

/** The cache and work-queue key of an object: "namespace/name", or "name" for cluster objects. */
export function keyOf(obj: { metadata: { name: string; namespace?: string } }): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export interface Request {
  namespace?: string;
  name: string;
}

/** The inverse of parseKey: the cache key of a request. */
export function requestKey(req: Request): string {
  return req.namespace ? `${req.namespace}/${req.name}` : req.name;
}

export function parseKey(key: string): Request {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
