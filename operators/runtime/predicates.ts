// Event filters for the controller builder, as controller-runtime's predicates: which informer
// events are worth a reconcile. Level-based reconciles stay correct without them; they only save work.
import type { InformerEvent } from "./informer.ts";
import type { KubeObject } from "./types.ts";

export type Predicate<T extends KubeObject = KubeObject> = (event: InformerEvent, obj: T, old?: T) => boolean;

/** Adds, deletes, and updates that changed what `fingerprint` reads. */
export function changed<T extends KubeObject>(fingerprint: (obj: T) => unknown): Predicate<T> {
  return (event, obj, old) => event !== "update" || !old || JSON.stringify(fingerprint(old)) !== JSON.stringify(fingerprint(obj));
}

/** Adds, deletes, and updates of the spec (a new metadata.generation), not of status alone. */
export const generationChanged: Predicate = (event, obj, old) =>
  event !== "update" || !old || old.metadata.generation !== obj.metadata.generation;
