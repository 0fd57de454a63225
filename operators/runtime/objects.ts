// Idempotent writes every controller needs, so "create, ignore AlreadyExists" and "delete, ignore
// NotFound" exist once: each tells the caller what happened instead of throwing on the benign case.
import { containsSubset } from "./subset.ts";
import { ApiError, isAlreadyExists, isNotFound, type KubeClient } from "./kube.ts";
import { apiVersionOf, type KubeObject, type OwnerReference, type ResourceRef } from "./types.ts";

/** The controller owner reference of `owner` (garbage collection removes the child with its owner). */
export function controllerRef(owner: KubeObject, ref: ResourceRef, blockOwnerDeletion = true): OwnerReference {
  return { apiVersion: apiVersionOf(ref), kind: ref.kind, name: owner.metadata.name, uid: owner.metadata.uid ?? "", controller: true, blockOwnerDeletion };
}

/** Creates `obj`; "exists" when the name is taken already (our cache was behind, or we made it before a crash). */
export async function createIfAbsent(client: KubeClient, ref: ResourceRef, obj: KubeObject): Promise<"created" | "exists"> {
  try {
    await client.create(ref, obj);
    return "created";
  } catch (e) {
    if (isAlreadyExists(e)) return "exists";
    throw e;
  }
}

export interface DeleteOptions {
  /** Delete only this incarnation: a newer object of the same name is left alone. */
  uid?: string;
  gracePeriodSeconds?: number;
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
}

/** A uid precondition that no longer holds: the object we meant is gone (a new one took its name). */
const isPreconditionFailed = (e: unknown): boolean => e instanceof ApiError && e.code === 409 && /precondition/i.test(e.message);

/** Deletes an object; "gone" when it was not there (or `uid` names an incarnation that is gone). */
export async function deleteIfPresent(client: KubeClient, ref: ResourceRef, name: string, namespace?: string, opts: DeleteOptions = {}): Promise<"deleted" | "gone"> {
  const body = {
    ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
    ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
    ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
  };
  try {
    await client.delete(ref, name, namespace, Object.keys(body).length ? body : undefined);
    return "deleted";
  } catch (e) {
    if (isNotFound(e) || (opts.uid && isPreconditionFailed(e))) return "gone";
    throw e;
  }
}

/**
 * Server-side applies `desired` unless `cached` already holds every field it sets, so an idle
 * reconcile makes no write. Returns whether it wrote.
 */
export async function applyIfChanged(
  client: KubeClient, ref: ResourceRef, desired: KubeObject, cached: KubeObject | undefined, fieldManager: string, subresource?: string,
): Promise<boolean> {
  if (cached && containsSubset(cached, desired)) return false;
  await client.apply(ref, desired, fieldManager, subresource);
  return true;
}
