// The verbs a plan uses on its realization (crossplane's external client: create, update, delete,
// plus server-side apply), as data a pure function can return and a test can compare, carried out
// here idempotently: a create that finds the object, a delete that finds none, an apply with
// nothing to change all count as done, so a plan is safe to repeat after a crash.
import { ApiError, resourcePath, type KubeClient, type PatchType } from "./kube.ts";
import { applyIfChanged, createIfAbsent, deleteIfPresent, type DeleteOptions } from "./objects.ts";
import { forEachLimit } from "./parallel.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

export type Action =
  /** With `subresource` (a pod's eviction), a POST to it for the object's name. */
  | { verb: "create"; ref: ResourceRef; object: KubeObject; subresource?: string }
  | { verb: "update"; ref: ResourceRef; name: string; namespace?: string; patch: unknown; patchType?: PatchType; subresource?: string }
  /** Server-side apply, skipped when `cached` already holds every field of `object`. */
  | { verb: "apply"; ref: ResourceRef; object: KubeObject; cached?: KubeObject }
  | ({ verb: "delete"; ref: ResourceRef; name: string; namespace?: string } & DeleteOptions);

export type OutcomeResult = "created" | "exists" | "updated" | "applied" | "unchanged" | "deleted" | "gone" | "refused" | "failed";

export interface Outcome {
  action: Action;
  result: OutcomeResult;
  error?: unknown;
}

/** 429 from a subresource: the apiserver declined for now (an eviction a PodDisruptionBudget forbids). */
const isTooManyRequests = (e: unknown): boolean => e instanceof ApiError && e.code === 429;

async function perform(client: KubeClient, a: Action, fieldManager: string): Promise<OutcomeResult> {
  switch (a.verb) {
    case "create": {
      if (!a.subresource) return createIfAbsent(client, a.ref, a.object);
      const { name, namespace } = a.object.metadata;
      try {
        await client.request("POST", resourcePath(a.ref, namespace, name, a.subresource), { body: a.object });
        return "created";
      } catch (e) {
        if (isTooManyRequests(e)) return "refused";
        throw e;
      }
    }
    case "update":
      await client.patch(a.ref, a.name, a.namespace, a.patch, a.patchType ?? "merge", a.subresource ? { subresource: a.subresource } : {});
      return "updated";
    case "apply":
      return (await applyIfChanged(client, a.ref, a.object, a.cached, fieldManager)) ? "applied" : "unchanged";
    case "delete":
      return deleteIfPresent(client, a.ref, a.name, a.namespace, a);
  }
}

/**
 * Runs `actions`. With concurrency 1 they run in order and the first failure throws; with more,
 * every action is tried and the first failure is returned beside the outcomes. Either way
 * outcomes[i] belongs to actions[i].
 */
export async function execute(client: KubeClient, actions: readonly Action[], opts: { concurrency: number; fieldManager: string }): Promise<{ outcomes: Outcome[]; failure?: unknown }> {
  const outcomes: Outcome[] = [];
  if (opts.concurrency <= 1) {
    for (const action of actions) outcomes.push({ action, result: await perform(client, action, opts.fieldManager) });
    return { outcomes };
  }
  // outcomes[i] is actions[i]'s, whatever order the calls finish in: plans read them by index
  const failed = await forEachLimit([...actions.entries()], opts.concurrency, async ([i, action]) => {
    outcomes[i] = { action, result: await perform(client, action, opts.fieldManager) };
  });
  for (const { item: [i, action], error } of failed) outcomes[i] = { action, result: "failed", error };
  const first = failed[0]?.error;
  if (first instanceof Error && failed.length > 1) first.message = `${first.message} (and ${failed.length - 1} more failed call(s))`;
  return { outcomes, ...(failed.length ? { failure: first } : {}) };
}
