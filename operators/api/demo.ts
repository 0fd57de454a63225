// Widget: a demonstration kind with no cloud behind it, for testing the operator runtime (defaults,
// CEL, finalizers, ordinary and terminal errors) against a real apiserver.
import { z } from "zod";
import { conditionsSchema, defineKind, observedGenerationSchema } from "./crd.ts";

const widgetSpec = z
  .object({
    size: z.int().min(1).max(100).describe("How big the widget is, 1 to 100."),
    maxSize: z.int().min(1).optional().describe("Upper bound for size; size may not exceed it."),
    color: z.enum(["red", "green", "blue"]).default("green").describe("Colour of the widget."),
    zone: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional()
      .describe("Zone the widget lives in. Immutable once set.")
      .meta({ "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "spec.zone is immutable" }] }),
    deletionPolicy: z
      .enum(["Delete", "Orphan"])
      .default("Delete")
      .describe("On deletion, Delete cleans up what the controller created for the widget; Orphan leaves it."),
    failCleanup: z
      .boolean()
      .default(false)
      .describe("While true the controller's cleanup fails, so the finalizer stays (for finalizer tests)."),
    behavior: z
      .enum(["Ok", "Error", "Terminal"])
      .default("Ok")
      .describe("Error makes every reconcile throw a retried error, Terminal a terminal one (for runtime tests)."),
  })
  .describe("Desired state of the widget.");

const widgetStatus = z
  .object({
    conditions: conditionsSchema.optional(),
    observedGeneration: observedGenerationSchema.optional(),
    configMapName: z.string().optional().describe("Name of the ConfigMap the controller keeps for this widget."),
  })
  .describe("Observed state of the widget, written by the controller.");

export const Widget = defineKind({
  group: "demo.cellcloud.io",
  version: "v1alpha1",
  kind: "Widget",
  plural: "widgets",
  shortNames: ["wdg"],
  scope: "Namespaced",
  description: "Widget is a demonstration resource that exercises the operator runtime; it owns one ConfigMap.",
  spec: widgetSpec,
  status: widgetStatus,
  printerColumns: [
    { name: "Size", type: "integer", jsonPath: ".spec.size" },
    { name: "Color", type: "string", jsonPath: ".spec.color" },
    { name: "Zone", type: "string", jsonPath: ".spec.zone" },
  ],
  validations: [
    { rule: "!has(self.maxSize) || self.size <= self.maxSize", message: "spec.size must not exceed spec.maxSize" },
    // the field rule above only runs when zone exists on both sides, so setting or removing it is caught here
    { rule: "has(self.zone) == has(oldSelf.zone)", message: "spec.zone is immutable" },
  ],
});

export type WidgetSpec = z.output<typeof widgetSpec>;
export type WidgetStatus = z.output<typeof widgetStatus>;
