// Cluster objects a controller depends on but does not reconcile (a PriorityClass, a StorageClass):
// created once this manager leads, retried with backoff until the apiserver has them. One that
// already exists is left as it is, so an administrator may tune it.
import { backoffDelay } from "./backoff.ts";
import { sleep } from "./clock.ts";
import type { Manager, Runnable } from "./manager.ts";
import { createIfAbsent } from "./objects.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

export function ensureObjects(mgr: Manager, ref: ResourceRef, objects: readonly KubeObject[]): Runnable {
  let stop = new AbortController();
  return {
    start() {
      stop = new AbortController();
      const signal = stop.signal;
      void (async () => {
        for (let attempt = 0; !signal.aborted; attempt++) {
          try {
            for (const obj of objects) await createIfAbsent(mgr.client, ref, obj);
            return;
          } catch (e) {
            mgr.log.warn({ resource: ref.plural, err: e instanceof Error ? e.message : String(e) }, "could not create required objects; retrying");
            await sleep(backoffDelay({ initialMs: 1000, maxMs: 60_000 }, attempt), signal);
          }
        }
      })();
    },
    async stop() {
      stop.abort();
    },
  };
}
