// The Helm chart's values, as a zod schema: `make generate` writes charts/cellcloud/values.schema.json
// from it, so `helm install --set` typos and wrong types fail before anything is applied.
import { z } from "zod";

const resources = z.object({
  requests: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  limits: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
}).strict().describe("Container resources (requests/limits).");
const image = z.object({
  repository: z.string().min(1),
  tag: z.string(),
  pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]),
}).strict();
const port = z.int().min(1).max(65535);
const anyObject = z.record(z.string(), z.unknown());
const storageSize = z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/);
const kubernetesName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).max(253);

const billing = z.object({
  enabled: z.boolean().describe("Billing (price lists, metering, a PostgreSQL ledger); off: the manager gets no ledger URL."),
  database: z.object({
    existingSecret: z.union([z.literal(""), kubernetesName])
      .describe("A Secret in the release namespace holding the ledger's PostgreSQL URL (CloudNativePG: the <cluster>-app Secret, with secretKey uri); takes precedence over inCluster."),
    secretKey: z.string().regex(/^[-._a-zA-Z0-9]+$/).describe("The key of existingSecret holding the URL."),
    inCluster: z.object({
      enabled: z.boolean(),
      image,
      storage: z.object({ size: storageSize, storageClassName: z.string() }).strict(),
      resources,
    }).strict().describe("For trials: a single-instance PostgreSQL with a generated password, used when existingSecret is empty."),
  }).strict(),
}).strict();

const monitor = z.object({ enabled: z.boolean(), interval: z.string().regex(/^\d+[smh]$/), labels: z.record(z.string(), z.string()) }).strict();

const grafana = z.object({
  dashboards: z.object({
    enabled: z.boolean(),
    label: z.string().min(1).describe("The label the Grafana sidecar selects dashboards by."),
    labelValue: z.string(),
    namespace: z.string().describe("Where the dashboard ConfigMaps go; empty: the release namespace."),
    annotations: z.record(z.string(), z.string()),
  }).strict().describe("Grafana dashboards as ConfigMaps for the sidecar of kube-prometheus-stack."),
}).strict();

const consoleValues = z.object({
  enabled: z.boolean().describe("The web console: a Deployment and Service serving it; it forwards each signed-in user's calls to the apiserver with the user's own credentials and has none of its own."),
  replicaCount: z.int().min(0).describe("Console replicas. Sessions live in a replica's memory: with more than one, the Ingress needs session affinity."),
  url: z.union([z.literal(""), z.string().regex(/^https?:\/\/[^\s"'<>]+$/)])
    .describe("The console's public URL, e.g. https://console.example.com: published in ConfigMap kube-public/cellcloud-console for `kubectl cellcloud console-url`; https marks the session cookie Secure."),
  port,
  sessionTtlSeconds: z.int().min(60).max(7 * 86400).describe("Idle time before a session ends."),
  service: z.object({ type: z.enum(["ClusterIP", "NodePort", "LoadBalancer"]), port }).strict(),
  ingress: z.object({
    enabled: z.boolean(),
    className: z.string(),
    host: z.string(),
    annotations: z.record(z.string(), z.string()),
    tls: z.array(anyObject).describe("Ingress TLS entries (secretName, hosts)."),
  }).strict().describe("An optional Ingress in front of the console Service."),
  resources,
}).strict();

const chartValues = z.object({
  image: image.describe("The manager image."),
  imagePullSecrets: z.array(z.object({ name: z.string() }).strict()),
  replicaCount: z.int().min(0).describe("Manager replicas; they elect a leader."),
  controllers: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).describe("Controllers to run; empty runs all."),
  concurrency: z.int().min(1).max(64),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error"]),
  leaderElection: z.object({
    enabled: z.boolean(),
    leaseDuration: z.int().min(2),
    renewDeadline: z.int().min(1),
    retryPeriod: z.int().min(1),
  }).strict(),
  metrics: z.object({
    port,
    service: z.object({ enabled: z.boolean() }).strict(),
    serviceMonitor: monitor.describe("A Prometheus Operator ServiceMonitor for the metrics Service."),
    podMonitor: monitor.describe("A Prometheus Operator PodMonitor for the manager pods (instead of the ServiceMonitor, not with it)."),
  }).strict(),
  health: z.object({ port }).strict(),
  webhook: z.object({ enabled: z.boolean(), port }).strict().describe("The tenancy admission webhook."),
  demo: z.object({ enabled: z.boolean() }).strict().describe("The runtime's demonstration Widget controller and its RBAC."),
  publicImages: z.object({ createNamespace: z.boolean() }).strict()
    .describe("The public image catalog (namespace cellcloud-images, readable by every signed-in user): whether the chart creates the namespace (kept on uninstall)."),
  managerScope: z.object({ enabled: z.boolean() }).strict().describe("A ValidatingAdmissionPolicy limiting the manager's ServiceAccount to CellCloud's pods, PVs and tenant namespaces."),
  networkPolicy: z.object({
    enabled: z.boolean(),
    webhookFrom: z.array(anyObject).describe("NetworkPolicy peers allowed to reach the webhook port; empty: any."),
    metricsFrom: z.array(anyObject).describe("NetworkPolicy peers allowed to reach the metrics port."),
  }).strict().describe("A NetworkPolicy for the manager pods."),
  resources,
  podDisruptionBudget: z.object({ enabled: z.boolean(), minAvailable: z.union([z.int().min(0), z.string().regex(/^\d+%$/)]) }).strict(),
  topologySpreadConstraints: z.array(anyObject),
  nodeSelector: z.record(z.string(), z.string()),
  tolerations: z.array(anyObject),
  affinity: anyObject,
  priorityClassName: z.string(),
  podAnnotations: z.record(z.string(), z.string()),
  serviceAccount: z.object({ create: z.boolean(), name: z.string(), annotations: z.record(z.string(), z.string()) }).strict(),
  kwok: z.object({ enabled: z.boolean(), image, nodeLeaseDurationSeconds: z.int().min(10), resources }).strict(),
  billing,
  grafana,
  console: consoleValues,
}).strict();

export type ChartValues = z.infer<typeof chartValues>;

/** JSON Schema (draft-07, as Helm reads it) for values.schema.json. */
export function valuesJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(chartValues, { target: "draft-07" }) as Record<string, unknown>;
}
