// A controller whose whole job is status: Ready (and any fields) computed from the object alone by a
// pure function. Catalog kinds (flavors, images, key pairs, spread groups) need nothing more.
import type { ConditionInput } from "./conditions.ts";
import type { Controller } from "./controller.ts";
import type { Manager } from "./manager.ts";
import { withCondition, writeStatus } from "./status.ts";
import { requestKey, type KubeObject, type ResourceRef } from "./types.ts";

export interface ComputedStatus {
  ready: Omit<ConditionInput, "type">;
  fields?: Record<string, unknown>;
}

export function statusController<T extends KubeObject>(mgr: Manager, name: string, ref: ResourceRef, compute: (obj: T) => ComputedStatus): Controller {
  const objects = mgr.informer<T>(ref);
  return mgr.controller(name).for(ref).complete(async (req) => {
    const obj = objects.get(requestKey(req));
    if (!obj) return;
    const { ready, fields } = compute(obj);
    await writeStatus(mgr.client, ref, obj, { ...withCondition(obj, { type: "Ready", ...ready }), ...fields });
  });
}
