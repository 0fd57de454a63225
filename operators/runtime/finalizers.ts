// Finalizers are added before any external effect and removed only after cleanup succeeded.
// Both writes carry the cached resourceVersion (optimistic lock), so a stale cache gets a 409
// and a retry instead of clobbering another controller's finalizer.
import { isNotFound, type KubeClient } from "./kube.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

export function hasFinalizer(obj: KubeObject, name: string): boolean {
  return obj.metadata.finalizers?.includes(name) ?? false;
}

export function isDeleting(obj: KubeObject): boolean {
  return Boolean(obj.metadata.deletionTimestamp);
}

async function setFinalizers<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizers: string[]): Promise<T> {
  const body = { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } };
  return client.patch<T>(ref, obj.metadata.name, obj.metadata.namespace, body, "merge");
}

/** Adds `name` if missing and returns the updated object (or the same one when nothing changed). */
export async function addFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, name: string): Promise<T> {
  if (hasFinalizer(obj, name)) return obj;
  return setFinalizers(client, ref, obj, [...(obj.metadata.finalizers ?? []), name]);
}

/** Removes `name`; an object that is already gone has no finalizer left, so 404 counts as done. */
export async function removeFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, name: string): Promise<T> {
  if (!hasFinalizer(obj, name)) return obj;
  try {
    return await setFinalizers(client, ref, obj, (obj.metadata.finalizers ?? []).filter((f) => f !== name));
  } catch (err) {
    if (isNotFound(err)) return obj;
    throw err;
  }
}
