// The ceiling run's "scheduler": a process that POSTs pods/<name>/binding for placements decided
// before it started (bench/scheduler/raw.ts), with our scheduler's HTTP client (KubeClient) and at
// most as many Bindings in flight as it allows itself. Started and measured by run.ts like the other
// schedulers; once every Binding is written it idles until SIGTERM, so its memory can still be read.
//   node bench/scheduler/raw-bind.ts <plan.json>
// plan.json: { kubeconfig, concurrency, binds: [{ namespace, name, uid, node }] }
import { KubeConfig } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isConflict, isNotFound, KubeClient } from "../../operators/runtime/kube.ts";
import { pool } from "./client.ts";
import { binding } from "./raw.ts";

interface Bind {
  namespace: string;
  name: string;
  uid?: string;
  node: string;
}

const file = process.argv[2];
if (!file) throw new Error("usage: node bench/scheduler/raw-bind.ts <plan.json>");
const plan = JSON.parse(readFileSync(file, "utf8")) as { kubeconfig: string; concurrency: number; binds: Bind[] };
process.on("SIGTERM", () => process.exit(0));

const kc = new KubeConfig();
kc.loadFromFile(plan.kubeconfig);
const client = new KubeClient(kc, "cellcloud-bench-raw-bind");
const t0 = performance.now();
let retries = 0;
let alreadyDone = 0;
const errors = await pool(plan.binds, plan.concurrency, async (b) => {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.request("POST", `/api/v1/namespaces/${b.namespace}/pods/${b.name}/binding`, { body: binding(b) });
      return;
    } catch (err) {
      // As our scheduler: gone or already bound is not retried; anything else is, with backoff.
      if (isNotFound(err) || isConflict(err)) {
        alreadyDone++;
        return;
      }
      if (attempt >= 10) throw err;
      retries++;
      await sleep(Math.min(1000, 50 * 2 ** attempt));
    }
  }
});
const seconds = (performance.now() - t0) / 1000;
console.log(`raw-bind: ${plan.binds.length - errors.length} of ${plan.binds.length} Bindings written in ${seconds.toFixed(1)} s ` +
  `(${plan.concurrency} in flight, ${retries} retries, ${alreadyDone} gone or already bound)` +
  (errors.length ? `; ${errors.length} failed, first: ${String(errors[0])}` : ""));
// Idle until the runner stops it (it reads this process's RSS 5 s after the last bind).
setInterval(() => undefined, 60_000);
