// Turns zod schemas into CustomResourceDefinitions: zod's own JSON Schema export, then one pass that
// rewrites it into a Kubernetes structural schema and rejects what the apiserver or `kubectl explain` cannot use.
import type { ResourceRef } from "./meta.ts";
import { z } from "zod";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface CelValidation {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface KindDefinition<Spec extends z.ZodType, Status extends z.ZodType> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular?: string;
  listKind?: string;
  scope: "Namespaced" | "Cluster";
  shortNames?: string[];
  /** "cellcloud" is always added. */
  categories?: string[];
  /** Top-level description shown by `kubectl explain <kind>`. */
  description: string;
  spec: Spec;
  status: Status;
  /** An "Age" column is appended, and a "Ready" column unless one is given or readyColumn is false. */
  printerColumns?: PrinterColumn[];
  /** False for a kind nothing reconciles (a lock object): no "Ready" column. */
  readyColumn?: boolean;
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  /** Object-level x-kubernetes-validations on spec. */
  validations?: CelValidation[];
  /** x-kubernetes-validations on the whole object, for rules that read metadata.name (e.g. its length). */
  objectValidations?: CelValidation[];
}

export type DefinedKind<Spec extends z.ZodType = z.ZodType, Status extends z.ZodType = z.ZodType> = KindDefinition<
  Spec,
  Status
> & { apiVersion: string; crd(): Record<string, unknown> };

/** A schema or kind the generator cannot turn into a valid CRD; `path` names the field, e.g. "spec.disks[].size". */
export class GeneratorError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path || "<root>"}: ${message}`);
    this.name = "GeneratorError";
    this.path = path;
  }
}

type Json = Record<string, unknown>;

const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const child = (path: string, key: string): string => (path ? `${path}.${key}` : key);

// ==================== metav1 helpers shared by every kind ====================

const conditionSchema = z.object({
  type: z
    .string()
    .max(316)
    .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
    .describe("Type of condition in CamelCase, e.g. Ready."),
  status: z.enum(["True", "False", "Unknown"]).describe("Status of the condition: True, False or Unknown."),
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .describe("The .metadata.generation the condition was set from; older than the object's generation means stale."),
  lastTransitionTime: z.iso.datetime().describe("When the condition last changed from one status to another."),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .describe("Programmatic identifier in CamelCase for the condition's last transition."),
  message: z.string().max(32768).describe("Human-readable details about the transition; may be empty."),
});

/** metav1.Condition list, merged by type as the apiserver and kubectl expect. */
export const conditionsSchema = z
  .array(conditionSchema)
  .describe("Latest observations of the object's state; Ready summarizes them.")
  .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });

export const observedGenerationSchema = z
  .int()
  .min(0)
  .describe("The .metadata.generation the controller last reconciled.");

// ==================== zod schema → structural schema ====================

/** The structural OpenAPI v3 schema for one zod schema; `path` prefixes field names in errors. */
export function toStructuralSchema(schema: z.ZodType, path = ""): Record<string, unknown> {
  return structural(exportJsonSchema(schema, path), path);
}

function exportJsonSchema(schema: z.ZodType, path: string): Json {
  try {
    // openapi-3.0 gives `enum` instead of `const` and boolean exclusive bounds, as Kubernetes wants;
    // "input" makes defaulted keys optional, since the apiserver fills them in.
    return z.toJSONSchema(schema, {
      target: "openapi-3.0",
      io: "input",
      cycles: "throw",
      reused: "inline",
      unrepresentable: (ctx) => {
        throw new GeneratorError(fieldPath(path, ctx.path), ctx.message);
      },
      override: (ctx) => checkZodNode(ctx.zodSchema, fieldPath(path, ctx.path)),
    });
  } catch (err) {
    if (err instanceof GeneratorError) throw err;
    throw new GeneratorError(path, err instanceof Error ? err.message : String(err));
  }
}

/** ["properties","disks","items","properties","size"] → "disks[].size"; map values are ".*". */
function fieldPath(prefix: string, jsonPath: readonly (string | number)[]): string {
  let out = prefix;
  for (let i = 0; i < jsonPath.length; i++) {
    const step = jsonPath[i];
    if (step === "properties") out = child(out, String(jsonPath[++i]));
    else if (step === "items") out = `${out}[]`;
    else if (step === "additionalProperties") out = child(out, "*");
  }
  return out;
}

// Caught on the zod side because the export loses them (record keys) or reports them far from the field.
function checkZodNode(schema: z.core.$ZodType, path: string): void {
  const def = schema._zod.def;
  if (z.globalRegistry.get(schema)?.id !== undefined) {
    throw new GeneratorError(path, "a schema with .meta({ id }) becomes a $ref, which CRDs forbid; drop the id");
  }
  if (def.type === "tuple") throw new GeneratorError(path, "tuples are not supported; use z.array or z.object");
  if (def.type !== "record") return;
  const key = (def as z.core.$ZodRecordDef).keyType._zod.def;
  if (key.type !== "string" || (key.checks?.length ?? 0) > 0) {
    throw new GeneratorError(path, "records must be z.record(z.string(), X); constrain keys with x-kubernetes-validations");
  }
}

function structural(input: unknown, path: string): Json {
  if (!isJson(input)) throw new GeneratorError(path, `expected a schema object, got ${JSON.stringify(input)}`);
  const node = normalize(input, path);
  rejectUnsupported(node, path);
  if (isJson(node.properties)) node.properties = structuralProperties(node.properties, path);
  if (node.items !== undefined) node.items = structural(node.items, `${path}[]`);
  if (node.additionalProperties !== undefined) {
    node.additionalProperties = structural(node.additionalProperties, child(path, "*"));
  }
  requireType(node, path);
  return node;
}

function structuralProperties(properties: Json, path: string): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(properties)) {
    const prop = structural(value, child(path, key));
    requireDescription(prop, child(path, key));
    out[key] = prop;
  }
  return out;
}

function requireDescription(node: Json, path: string): void {
  if (typeof node.description === "string" && node.description.trim() !== "") return;
  const hint = 'add .describe("…") or .meta({ description: "…" }) so kubectl explain is useful';
  throw new GeneratorError(path, `missing description: ${hint}`);
}

function requireType(node: Json, path: string): void {
  if (typeof node.type === "string") return;
  if (node["x-kubernetes-int-or-string"] === true || node["x-kubernetes-preserve-unknown-fields"] === true) return;
  throw new GeneratorError(path, 'no type: z.any()/z.unknown() need .meta({ "x-kubernetes-preserve-unknown-fields": true })');
}

// ==================== rewrites from JSON Schema idioms to Kubernetes ones ====================

/** A copy of `input` with zod's JSON Schema idioms replaced by their structural equivalents. */
function normalize(input: Json, path: string): Json {
  const node: Json = { ...input };
  delete node.$schema;
  delete node.readOnly; // from .readonly(), which only narrows the TS type
  // z.strictObject: the apiserver prunes unknown fields anyway, and false is not structural
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (isJson(node.additionalProperties) && Object.keys(node.additionalProperties).length === 0) {
    // z.looseObject / z.record(z.string(), z.unknown()): "anything" is spelled preserve-unknown-fields
    delete node.additionalProperties;
    node["x-kubernetes-preserve-unknown-fields"] = true;
  }
  collapseLiteralUnion(node);
  if (node["x-kubernetes-int-or-string"] === true) intOrString(node, path);
  if (node.type === "integer") integerFormat(node);
  if (typeof node.format === "string") formatOrPattern(node);
  if (typeof node.pattern === "string") requireRe2(node.pattern, path);
  return node;
}

/** z.union([z.literal("a"), z.literal("b")]) exports as anyOf of one-value enums; Kubernetes wants one enum. */
function collapseLiteralUnion(node: Json): void {
  const branches = node.anyOf;
  if (!Array.isArray(branches) || branches.length === 0) return;
  const isStringLiteral = (b: unknown): boolean =>
    isJson(b) && b.type === "string" && Array.isArray(b.enum) && Object.keys(b).length === 2;
  if (!branches.every(isStringLiteral)) return;
  node.enum = [...new Set(branches.flatMap((b) => (b as { enum: unknown[] }).enum))];
  node.type = "string";
  delete node.anyOf;
}

// The one union structural schemas allow: anyOf integer|string with no type on the node itself.
function intOrString(node: Json, path: string): void {
  const branches = Array.isArray(node.anyOf) ? node.anyOf : [];
  const kept = branches.filter(isJson).map((b) => normalize(b, path));
  // junctors may carry value validations only; the integer branch goes first, as controller-gen writes it
  const valueKeys = new Set(["type", "pattern", "minLength", "maxLength", "minimum", "maximum", "enum"]);
  const clean = kept
    .filter((b) => b.type === "integer" || b.type === "string")
    .map((b) => Object.fromEntries(Object.entries(b).filter(([k]) => valueKeys.has(k))))
    .sort((a, b) => String(a.type).localeCompare(String(b.type)));
  const exact = clean.map((b) => b.type).join() === "integer,string";
  node.anyOf = exact ? clean : [{ type: "integer" }, { type: "string" }];
  delete node.type;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/** int32 when both bounds fit, int64 otherwise; drops the bounds that the format already implies. */
function integerFormat(node: Json): void {
  const { minimum: min, maximum: max } = node;
  const fits32 = typeof min === "number" && typeof max === "number" && min >= INT32.min && max <= INT32.max;
  if (typeof node.format !== "string") node.format = fits32 ? "int32" : "int64";
  const implied = node.format === "int32" ? INT32 : { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
  if (min === implied.min && node.exclusiveMinimum !== true) delete node.minimum;
  if (max === implied.max && node.exclusiveMaximum !== true) delete node.maximum;
}

// Formats the apiserver validates itself (with the same meaning as zod's); for these zod's regex is noise.
const KUBE_FORMATS = new Set(["date-time", "date", "email", "ipv4", "ipv6", "uuid", "hostname", "uri", "int32", "int64"]);

function formatOrPattern(node: Json): void {
  if (KUBE_FORMATS.has(String(node.format))) delete node.pattern;
  else if (node.type === "string") delete node.format; // unknown to the apiserver: keep zod's pattern instead
}

// The apiserver compiles patterns with Go's RE2, which has no lookaround or backreferences.
function requireRe2(pattern: string, path: string): void {
  if (/\(\?<?[=!]|\\[1-9]/.test(pattern)) {
    throw new GeneratorError(path, `pattern ${pattern} uses lookaround or a backreference, which Go's RE2 rejects`);
  }
}

// ==================== what a structural schema may not contain ====================

const ALLOWED_KEYS = new Set([
  "type", "format", "title", "description", "default", "enum", "example", "externalDocs",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
  "minLength", "maxLength", "pattern", "minItems", "maxItems", "items",
  "properties", "required", "additionalProperties", "minProperties", "maxProperties", "anyOf",
]);

function rejectUnsupported(node: Json, path: string): void {
  if (node.nullable === true) throw new GeneratorError(path, "nullable is not allowed in CRDs; use .optional()");
  if ("$ref" in node || "definitions" in node || "$defs" in node) {
    throw new GeneratorError(path, "schemas become $ref when they carry .meta({ id }); drop the id");
  }
  const union = ["anyOf", "oneOf", "allOf", "not"].find((k) => k in node);
  if (union && !(union === "anyOf" && node["x-kubernetes-int-or-string"] === true)) {
    throw new GeneratorError(
      path,
      `unions (${union}) are not supported; use z.enum for string literals, or .meta({ "x-kubernetes-int-or-string": true })`,
    );
  }
  if (node.properties !== undefined && node.additionalProperties !== undefined) {
    throw new GeneratorError(path, "an object cannot have both properties and additionalProperties (.catchall)");
  }
  const unknown = Object.keys(node).find((k) => !ALLOWED_KEYS.has(k) && !k.startsWith("x-kubernetes-"));
  if (unknown) throw new GeneratorError(path, `JSON Schema keyword "${unknown}" is not supported in CRDs`);
}

// ==================== kinds and CRDs ====================

export function defineKind<Spec extends z.ZodType, Status extends z.ZodType>(
  def: KindDefinition<Spec, Status>,
): DefinedKind<Spec, Status> {
  checkNames(def);
  return { ...def, apiVersion: `${def.group}/${def.version}`, crd: () => buildCrd(def) };
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

// The apiserver would reject these too, but only at install time and without saying which file to fix.
function checkNames(def: KindDefinition<z.ZodType, z.ZodType>): void {
  const bad = (what: string, value: string): never => {
    throw new GeneratorError(def.kind, `invalid ${what} "${value}"`);
  };
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/.test(def.group)) bad("group", def.group);
  if (!/^v\d+((alpha|beta)\d+)?$/.test(def.version)) bad("version", def.version);
  if (!/^[A-Z][A-Za-z0-9]*$/.test(def.kind)) bad("kind", def.kind);
  for (const name of [def.plural, def.singular ?? def.kind.toLowerCase(), ...(def.shortNames ?? [])]) {
    if (!DNS_LABEL.test(name)) bad("resource name", name);
  }
}

function buildCrd(def: KindDefinition<z.ZodType, z.ZodType>): Json {
  const schema = openApiSchema(def);
  const version = {
    name: def.version,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: schema },
    subresources: { status: {}, scale: def.scale },
    additionalPrinterColumns: printerColumns(def, schema),
  };
  if (def.scale) for (const p of Object.values(def.scale)) assertPathExists(schema, p, "scale path");
  return canonical({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${def.group}` },
    spec: { group: def.group, names: names(def), scope: def.scope, versions: [version] },
  }) as Json;
}

function names(def: KindDefinition<z.ZodType, z.ZodType>): Json {
  return {
    kind: def.kind,
    listKind: def.listKind ?? `${def.kind}List`,
    plural: def.plural,
    singular: def.singular ?? def.kind.toLowerCase(),
    shortNames: def.shortNames,
    categories: [...new Set(["cellcloud", ...(def.categories ?? [])])],
  };
}

const API_VERSION_DOC =
  "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC =
  "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

function openApiSchema(def: KindDefinition<z.ZodType, z.ZodType>): Json {
  const spec = objectRoot(def.spec, "spec");
  const status = objectRoot(def.status, "status");
  const own = Array.isArray(spec["x-kubernetes-validations"]) ? spec["x-kubernetes-validations"] : [];
  if (def.validations?.length) spec["x-kubernetes-validations"] = [...own, ...def.validations];
  return {
    type: "object",
    description: def.description,
    "x-kubernetes-validations": def.objectValidations?.length ? def.objectValidations : undefined,
    properties: {
      apiVersion: { type: "string", description: API_VERSION_DOC },
      kind: { type: "string", description: KIND_DOC },
      metadata: { type: "object" }, // the apiserver owns ObjectMeta's schema, as with controller-gen
      spec,
      status,
    },
    required: ["spec"],
  };
}

function objectRoot(schema: z.ZodType, path: string): Json {
  const node = toStructuralSchema(schema, path);
  requireDescription(node, path);
  if (node.type !== "object") throw new GeneratorError(path, "must be a z.object");
  return node;
}

const READY_COLUMN: PrinterColumn = {
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const AGE_COLUMN: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

function printerColumns(def: KindDefinition<z.ZodType, z.ZodType>, schema: Json): PrinterColumn[] {
  const columns = [...(def.printerColumns ?? [])];
  for (const c of columns) assertPathExists(schema, c.jsonPath, `printer column ${c.name}`);
  const has = (c: PrinterColumn): boolean => columns.some((x) => x.name === c.name || x.jsonPath === c.jsonPath);
  if (def.readyColumn !== false && !has(READY_COLUMN)) columns.push(READY_COLUMN);
  if (!has(AGE_COLUMN)) columns.push(AGE_COLUMN);
  return columns;
}

/** Catches typos in plain .spec/.status paths; filters and indexes are left to the apiserver. */
function assertPathExists(schema: Json, jsonPath: string, what: string): void {
  if (!/^\.(spec|status)(\.[A-Za-z0-9_]+)*$/.test(jsonPath)) return;
  let node: unknown = schema;
  for (const step of jsonPath.slice(1).split(".")) {
    node = isJson(node) && isJson(node.properties) ? node.properties[step] : undefined;
    if (node === undefined) throw new GeneratorError(jsonPath.slice(1), `${what} ${jsonPath} names no field`);
  }
}

/** Keys sorted and undefined dropped at every level, so the YAML is stable whatever order fields were written in. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isJson(value)) return value;
  const out: Json = {};
  for (const key of Object.keys(value).sort()) {
    if (value[key] !== undefined) out[key] = canonical(value[key]);
  }
  return out;
}

/** The wire identity of a defined kind, for the runtime's client and informers. */
export function refOf(kind: Pick<KindDefinition<z.ZodType, z.ZodType>, "group" | "version" | "kind" | "plural" | "scope">): ResourceRef {
  return { group: kind.group, version: kind.version, kind: kind.kind, plural: kind.plural, namespaced: kind.scope === "Namespaced" };
}
