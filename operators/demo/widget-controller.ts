// Reconciles Widgets into one ConfigMap each: the smallest product on the managed reconciler
// (finalizer, deletionPolicy, an owned child by server-side apply, status, ordinary and terminal
// errors), and the shape every product copies.
import { Widget, type WidgetSpec, type WidgetStatus } from "../api/demo.ts";
import { refOf } from "../api/crd.ts";
import type { Controller } from "../runtime/controller.ts";
import { ConfigMapRef } from "../runtime/core.ts";
import { TerminalError } from "../runtime/errors.ts";
import type { ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { Product } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";

const WidgetRef = refOf(Widget);
const FINALIZER = "demo.cellcloud.io/cleanup";
const MANAGED = "app.kubernetes.io/managed-by=cellcloud";

type WidgetObj = KubeObject & { spec: WidgetSpec; status?: WidgetStatus };

function configMapFor(w: WidgetObj, owned: boolean): KubeObject {
  return {
    apiVersion: "v1", kind: "ConfigMap",
    metadata: {
      name: w.metadata.name, namespace: w.metadata.namespace, labels: { "app.kubernetes.io/managed-by": "cellcloud" },
      ...(owned ? { ownerReferences: [controllerRef(w, WidgetRef)] } : {}),
    },
    data: { size: String(w.spec.size), color: w.spec.color },
  };
}

function setupWidgetController(mgr: Manager): Controller {
  const configMaps = mgr.informer(ConfigMapRef, MANAGED);
  const widget: ManagedResource<WidgetObj, { configMap?: KubeObject }> = {
    finalizer: FINALIZER,
    observe: (w) => ({ configMap: configMaps.get(keyOf(w)) }),
    plan(w, o) {
      if (w.spec.behavior === "Error") throw new Error("spec.behavior is Error: failing on purpose");
      if (w.spec.behavior === "Terminal") throw new TerminalError("BehaviorTerminal", "spec.behavior is Terminal: this widget will not be reconciled until spec.behavior changes");
      const desired = configMapFor(w, true);
      return {
        actions: [{ verb: "apply", ref: ConfigMapRef, object: desired, cached: o.configMap }],
        status: { conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: `ConfigMap ${desired.metadata.name} is up to date` }], fields: { configMapName: desired.metadata.name } },
      };
    },
    finalize(w, _o, policy) {
      if (w.spec.failCleanup) throw new Error("cleanup failed: spec.failCleanup is true");
      // Orphan: applying without the owner reference drops it (we own that field), so GC leaves the child.
      return policy === "Orphan"
        ? { actions: [{ verb: "apply", ref: ConfigMapRef, object: configMapFor(w, false) }], done: true }
        : { actions: [{ verb: "delete", ref: ConfigMapRef, name: w.metadata.name, namespace: w.metadata.namespace }], done: true };
    },
  };
  return mgr.controller("widget").for(WidgetRef).owns(ConfigMapRef, { labelSelector: MANAGED }).manage(widget);
}

export const demo: Product = { name: "demo", controllers: { widget: setupWidgetController } };
