// Reconciles Widgets into one ConfigMap each: the smallest controller that uses every part of the
// runtime (finalizer with deletionPolicy, owned child via server-side apply, status, errors).
import { refOf } from "../api/crd.ts";
import { Widget, type WidgetSpec, type WidgetStatus } from "../api/demo.ts";
import { TerminalError } from "../runtime/errors.ts";
import { addFinalizer, hasFinalizer, isDeleting, removeFinalizer } from "../runtime/finalizers.ts";
import { isNotFound } from "../runtime/kube.ts";
import type { Controller } from "../runtime/controller.ts";
import type { Manager } from "../runtime/manager.ts";
import { markReady, writeStatus } from "../runtime/status.ts";
import { containsSubset } from "../runtime/subset.ts";
import { requestKey, type KubeObject, type ResourceRef } from "../runtime/types.ts";

export const WidgetRef = refOf(Widget);
export const ConfigMapRef: ResourceRef = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true };
const FINALIZER = "demo.cellcloud.io/cleanup";
const MANAGED = "app.kubernetes.io/managed-by=cellcloud";

type WidgetObj = KubeObject & { spec: WidgetSpec; status?: WidgetStatus };

export function setupWidgetController(mgr: Manager): Controller {
  const widgets = mgr.informer<WidgetObj>(WidgetRef);
  const configMaps = mgr.informer(ConfigMapRef, MANAGED);
  const { client } = mgr;

  async function finalize(w: WidgetObj): Promise<void> {
    if (!hasFinalizer(w, FINALIZER)) return;
    if (w.spec.failCleanup) throw new Error("cleanup failed: spec.failCleanup is true");
    const name = childName(w);
    if (w.spec.deletionPolicy === "Orphan") {
      // Applying without the owner reference drops it (we own that field), so GC leaves the child.
      await client.apply(ConfigMapRef, configMapFor(w, false), mgr.fieldManager);
    } else {
      await client.delete(ConfigMapRef, name, w.metadata.namespace).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
    }
    await removeFinalizer(client, WidgetRef, w, FINALIZER);
  }

  return mgr.controller("widget").for(WidgetRef).owns(ConfigMapRef, MANAGED).complete(async (req) => {
    let w = widgets.get(requestKey(req));
    if (!w) return;
    if (isDeleting(w)) return finalize(w);
    w = await addFinalizer(client, WidgetRef, w, FINALIZER);
    if (w.spec.behavior === "Error") throw new Error("spec.behavior is Error: failing on purpose");
    if (w.spec.behavior === "Terminal") throw new TerminalError("BehaviorTerminal", "spec.behavior is Terminal: this widget will not be reconciled until spec.behavior changes");
    const desired = configMapFor(w, true);
    if (!containsSubset(configMaps.get(requestKey(req)), desired)) await client.apply(ConfigMapRef, desired, mgr.fieldManager);
    const status = markReady(w, "Reconciled", `ConfigMap ${desired.metadata.name} is up to date`);
    await writeStatus(client, WidgetRef, w, { ...status, configMapName: desired.metadata.name });
  });
}

function childName(w: WidgetObj): string {
  return w.metadata.name;
}

function configMapFor(w: WidgetObj, owned: boolean): KubeObject & { data: Record<string, string> } {
  const owner = { apiVersion: Widget.apiVersion, kind: "Widget", name: w.metadata.name, uid: w.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
  return {
    apiVersion: "v1", kind: "ConfigMap",
    metadata: {
      name: childName(w), namespace: w.metadata.namespace, labels: { "app.kubernetes.io/managed-by": "cellcloud" },
      ...(owned ? { ownerReferences: [owner] } : {}),
    },
    data: { size: String(w.spec.size), color: w.spec.color },
  };
}
