// The demo Widget through client-node's CustomObjectsApi, as a user drives it. Its coordinates come
// from the kind definition in operators/api, so suites never spell the group or version again.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { Widget } from "../../operators/api/demo.ts";

export interface WidgetObject {
  metadata: { name: string; resourceVersion: string; finalizers?: string[]; generation: number; uid?: string };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
}

type JsonPatch = Array<{ op: string; path: string; value?: unknown }>;

/** Widget calls in one namespace of the cluster `kc` points at. */
export function widgetsIn(kc: KubeConfig, namespace: string) {
  const api = kc.makeApiClient(CustomObjectsApi);
  const at = { group: Widget.group, version: Widget.version, plural: Widget.plural, namespace };
  return {
    create: (name: string, spec: Record<string, unknown>) =>
      api.createNamespacedCustomObject({ ...at, body: { apiVersion: Widget.apiVersion, kind: Widget.kind, metadata: { name }, spec } }),
    read: async (name: string) => (await api.getNamespacedCustomObject({ ...at, name })) as WidgetObject,
    list: async () => ((await api.listNamespacedCustomObject(at)) as { items: WidgetObject[] }).items,
    patch: (name: string, body: JsonPatch) => api.patchNamespacedCustomObject({ ...at, name, body }),
    delete: (name: string) => api.deleteNamespacedCustomObject({ ...at, name }),
  };
}
