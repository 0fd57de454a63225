// The AdmissionReview wire format, parsed with zod: a webhook handler only ever sees a request whose
// shape was checked, and a response carries a mutated object's JSON Patch computed by fast-json-patch.
import jsonpatch from "fast-json-patch";
import { z } from "zod";
import type { KubeObject } from "./types.ts";

const objectSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
    deletionTimestamp: z.string().optional(),
  }),
});

const requestSchema = z.object({
  uid: z.string().min(1).max(128),
  kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }).optional(),
  resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
  userInfo: z.object({
    username: z.string().optional(),
    uid: z.string().optional(),
    groups: z.array(z.string()).optional(),
    extra: z.record(z.string(), z.array(z.string())).optional(),
  }),
  object: objectSchema.nullish(),
  oldObject: objectSchema.nullish(),
  dryRun: z.boolean().optional(),
});

const admissionReviewSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal("AdmissionReview").optional(),
  request: requestSchema,
});

type ParsedRequest = z.output<typeof requestSchema>;

/** A checked AdmissionReview request; objects are typed as the runtime's plain KubeObjects. */
export interface AdmissionRequest extends Omit<ParsedRequest, "object" | "oldObject"> {
  object?: KubeObject;
  oldObject?: KubeObject;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
}

/** Parses a review; a string says what is wrong with it. */
export function parseReview(body: unknown): { apiVersion: string; request: AdmissionRequest } | string {
  const r = admissionReviewSchema.safeParse(body);
  if (!r.success) return `not an AdmissionReview: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "<root>"}: ${i.message}`).join("; ")}`;
  const { object, oldObject, ...rest } = r.data.request;
  const request: AdmissionRequest = { ...rest, ...(object ? { object: object as KubeObject } : {}), ...(oldObject ? { oldObject: oldObject as KubeObject } : {}) };
  return { apiVersion: r.data.apiVersion ?? "admission.k8s.io/v1", request };
}

export const allow = (req: { uid: string }): AdmissionResponse => ({ uid: req.uid, allowed: true });

export const deny = (req: { uid: string }, code: number, reason: string, message: string): AdmissionResponse =>
  ({ uid: req.uid, allowed: false, status: { code, reason, message } });

/** Allows `original`, changed into `mutated`: the response carries the JSON Patch between them. */
export function patched(req: { uid: string }, original: KubeObject, mutated: KubeObject): AdmissionResponse {
  const ops = jsonpatch.compare(original, mutated);
  if (!ops.length) return allow(req);
  return { uid: req.uid, allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(ops)).toString("base64") };
}
