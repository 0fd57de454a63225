// Cluster objects a controller depends on but does not reconcile (a PriorityClass, a StorageClass):
// created once this manager leads, retried with backoff until the apiserver has them. One that
// already exists is left as it is, so an administrator may tune it.
import { isAlreadyExists } from "./kube.ts";
import type { Manager, Runnable } from "./manager.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

export function ensureObjects(mgr: Manager, ref: ResourceRef, objects: readonly KubeObject[]): Runnable {
  let stopped = false;
  return {
    start() {
      stopped = false;
      void (async () => {
        for (let delay = 1000; !stopped; delay = Math.min(delay * 2, 60_000)) {
          try {
            for (const obj of objects) {
              await mgr.client.create(ref, obj).catch((e: unknown) => { if (!isAlreadyExists(e)) throw e; });
            }
            return;
          } catch (e) {
            mgr.log.warn({ resource: ref.plural, err: e instanceof Error ? e.message : String(e) }, "could not create required objects; retrying");
            await new Promise((r) => setTimeout(r, delay));
          }
        }
      })();
    },
    async stop() {
      stopped = true;
    },
  };
}
