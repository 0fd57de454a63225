// The generator's contract: every registered kind yields a structural CRD (checked here by an
// independent walker), the demo kind carries its rules, bad schemas fail naming the field, output is stable.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { GeneratorError, defineKind, toStructuralSchema } from "./crd.ts";
import { Widget } from "./demo.ts";
import { HEADER, generateCrds } from "./generate.ts";
import { kinds } from "./index.ts";

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function at(value: unknown, ...keys: (string | number)[]): unknown {
  let node = value;
  for (const key of keys) node = isJson(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[key] : undefined;
  return node;
}

// ==================== an independent structural-schema checker ====================

const FORBIDDEN = ["$schema", "$ref", "$defs", "definitions", "const", "nullable", "oneOf", "allOf", "not", "id"];
const FORBIDDEN_MORE = ["patternProperties", "dependencies", "additionalItems", "prefixItems", "examples", "readOnly"];

/** Returns one message per violation of the apiextensions.k8s.io/v1 structural rules we rely on. */
function structuralProblems(node: unknown, path: string, isProperty: boolean): string[] {
  if (!isJson(node)) return [`${path}: not an object`];
  const problems = [...nodeProblems(node, path)];
  if (isProperty && !(typeof node.description === "string" && node.description.length > 0)) {
    problems.push(`${path}: no description`);
  }
  if (isJson(node.properties)) {
    for (const [key, value] of Object.entries(node.properties)) problems.push(...structuralProblems(value, `${path}.${key}`, true));
  }
  if (node.items !== undefined) problems.push(...structuralProblems(node.items, `${path}[]`, false));
  if (node.additionalProperties !== undefined) {
    problems.push(...structuralProblems(node.additionalProperties, `${path}.*`, false));
  }
  return problems;
}

function nodeProblems(node: Json, path: string): string[] {
  const problems: string[] = [];
  const intOrString = node["x-kubernetes-int-or-string"] === true;
  const preserve = node["x-kubernetes-preserve-unknown-fields"] === true;
  for (const key of [...FORBIDDEN, ...FORBIDDEN_MORE]) if (key in node) problems.push(`${path}: forbidden ${key}`);
  if (typeof node.type !== "string" && !intOrString && !preserve) problems.push(`${path}: no type`);
  if ("anyOf" in node && !intOrString) problems.push(`${path}: anyOf outside int-or-string`);
  if (node.additionalProperties === false || typeof node.additionalProperties === "boolean") {
    problems.push(`${path}: boolean additionalProperties`);
  }
  if (node.properties !== undefined && node.additionalProperties !== undefined) problems.push(`${path}: properties with additionalProperties`);
  if (node.uniqueItems === true) problems.push(`${path}: uniqueItems`);
  if (node.type === "integer" && node.format !== "int32" && node.format !== "int64") problems.push(`${path}: integer without format`);
  if (typeof node.pattern === "string" && /\(\?<?[=!]/.test(node.pattern)) problems.push(`${path}: non-RE2 pattern`);
  if (node["x-kubernetes-list-type"] === "map") problems.push(...listMapProblems(node, path));
  return problems;
}

// The apiserver requires list-map keys to be required (or defaulted) scalar properties of the items.
function listMapProblems(node: Json, path: string): string[] {
  const keys = node["x-kubernetes-list-map-keys"];
  if (!Array.isArray(keys) || keys.length === 0) return [`${path}: list-type map without list-map-keys`];
  const required = at(node, "items", "required");
  return keys
    .filter((k) => !(Array.isArray(required) && required.includes(k)))
    .map((k) => `${path}: list-map key ${String(k)} is not required`);
}

function crdSchema(crd: Json): Json {
  const schema = at(crd, "spec", "versions", 0, "schema", "openAPIV3Schema");
  if (!isJson(schema)) throw new Error("no openAPIV3Schema");
  return schema;
}

describe("every registered kind", () => {
  it("(the checker itself flags violations)", () => {
    const bad = { type: "object", properties: { a: { anyOf: [{ type: "string" }], nullable: true }, b: { type: "integer", description: "B." } } };
    expect(structuralProblems(bad, "spec", false)).toEqual([
      "spec.a: forbidden nullable",
      "spec.a: no type",
      "spec.a: anyOf outside int-or-string",
      "spec.a: no description",
      "spec.b: integer without format",
    ]);
  });

  it.each(kinds.map((k) => [k.kind, k] as const))("%s generates a structural CRD", (_name, kind) => {
    const schema = crdSchema(kind.crd());
    expect(schema.type).toBe("object");
    expect(schema.description).toEqual(expect.any(String));
    const { metadata, ...rest } = at(schema, "properties") as Json;
    expect(metadata).toEqual({ type: "object" });
    const problems = Object.entries(rest).flatMap(([key, value]) => structuralProblems(value, key, true));
    expect(problems).toEqual([]);
  });

  it("produces one file name per kind", () => {
    const names = kinds.map((k) => `${k.group}_${k.plural}`);
    expect(new Set(names).size).toBe(names.length);
  });
});

// ==================== the demo kind ====================

describe("Widget CRD", () => {
  const crd = Widget.crd();
  const spec = at(crdSchema(crd), "properties", "spec") as Json;
  const prop = (name: string): Json => at(spec, "properties", name) as Json;

  it("has names, scope, category cellcloud and the status subresource", () => {
    expect(at(crd, "metadata", "name")).toBe("widgets.demo.cellcloud.io");
    expect(at(crd, "spec", "names")).toEqual({
      kind: "Widget",
      listKind: "WidgetList",
      plural: "widgets",
      singular: "widget",
      shortNames: ["wdg"],
      categories: ["cellcloud"],
    });
    expect(at(crd, "spec", "scope")).toBe("Namespaced");
    expect(at(crd, "spec", "versions", 0)).toMatchObject({ name: "v1alpha1", served: true, storage: true, subresources: { status: {} } });
    expect(Widget.apiVersion).toBe("demo.cellcloud.io/v1alpha1");
  });

  it("carries bounds, enum, default, pattern and required", () => {
    expect(prop("size")).toMatchObject({ type: "integer", format: "int32", minimum: 1, maximum: 100 });
    expect(prop("color")).toMatchObject({ type: "string", enum: ["red", "green", "blue"], default: "green" });
    expect(prop("deletionPolicy")).toMatchObject({ enum: ["Delete", "Orphan"], default: "Delete" });
    expect(prop("failCleanup")).toMatchObject({ type: "boolean", default: false });
    expect(prop("behavior")).toMatchObject({ enum: ["Ok", "Error", "Terminal"], default: "Ok" });
    expect(prop("zone")).toMatchObject({ type: "string", pattern: "^[a-z0-9-]+$" });
    expect(prop("maxSize")).toMatchObject({ type: "integer", format: "int64", minimum: 1 });
    expect(spec.required).toEqual(["size"]);
  });

  it("carries the field-level and object-level CEL rules", () => {
    expect(prop("zone")["x-kubernetes-validations"]).toEqual([{ rule: "self == oldSelf", message: "spec.zone is immutable" }]);
    expect(spec["x-kubernetes-validations"]).toContainEqual({
      rule: "!has(self.maxSize) || self.size <= self.maxSize",
      message: "spec.size must not exceed spec.maxSize",
    });
  });

  it("puts objectValidations on the root, where rules may read metadata.name", () => {
    const kind = defineKind({
      group: "x.example.io", version: "v1", kind: "Short", plural: "shorts", scope: "Cluster", description: "Short names only.",
      spec: z.object({}).describe("Spec."), status: z.object({}).describe("Status."),
      objectValidations: [{ rule: "self.metadata.name.size() <= 10", message: "metadata.name must be at most 10 characters" }],
    });
    expect(crdSchema(kind.crd())["x-kubernetes-validations"]).toEqual([{ rule: "self.metadata.name.size() <= 10", message: "metadata.name must be at most 10 characters" }]);
    expect(crdSchema(crd)).not.toHaveProperty("x-kubernetes-validations");
  });

  it("has the printer columns, then Ready and Age", () => {
    const columns = at(crd, "spec", "versions", 0, "additionalPrinterColumns") as Json[];
    expect(columns.map((c) => [c.name, c.jsonPath])).toEqual([
      ["Size", ".spec.size"],
      ["Color", ".spec.color"],
      ["Zone", ".spec.zone"],
      ["Ready", '.status.conditions[?(@.type=="Ready")].status'],
      ["Age", ".metadata.creationTimestamp"],
    ]);
  });

  it("types conditions as a metav1.Condition list map keyed by type", () => {
    const conditions = at(crdSchema(crd), "properties", "status", "properties", "conditions") as Json;
    expect(conditions).toMatchObject({ type: "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });
    expect(at(conditions, "items", "properties", "status", "enum")).toEqual(["True", "False", "Unknown"]);
    expect(at(conditions, "items", "properties", "lastTransitionTime")).toMatchObject({ format: "date-time" });
    expect(at(conditions, "items", "properties", "lastTransitionTime", "pattern")).toBeUndefined();
  });

  it("applies the same defaults in zod as the apiserver will", () => {
    expect(Widget.spec.parse({ size: 3 })).toEqual({ size: 3, color: "green", deletionPolicy: "Delete", failCleanup: false, behavior: "Ok" });
  });
});

// ==================== the converter on its own ====================

function generatorError(fn: () => unknown): GeneratorError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GeneratorError) return err;
    throw err;
  }
  throw new Error("expected a GeneratorError");
}

describe("toStructuralSchema", () => {
  it("names the path of a field without a description", () => {
    const schema = z.object({ disks: z.array(z.object({ size: z.int() })).describe("Disks.") });
    const err = generatorError(() => toStructuralSchema(schema, "spec"));
    expect(err.path).toBe("spec.disks[].size");
    expect(err.message).toContain("spec.disks[].size");
  });

  it.each([
    ["nullable", z.string().nullable(), /nullable/],
    ["a union of non-literals", z.union([z.string(), z.number()]), /union/],
    ["a Date", z.date(), /Date/],
    ["a constrained record key", z.record(z.string().min(1), z.string()), /z\.record\(z\.string\(\), X\)/],
    ["catchall", z.object({}).catchall(z.string()), /properties and additionalProperties/],
    ["an untyped value", z.unknown(), /preserve-unknown-fields/],
    ["a lookahead pattern", z.string().regex(/^(?!x)/), /RE2/],
  ])("rejects %s at the field", (_what, field, message) => {
    const err = generatorError(() => toStructuralSchema(z.object({ f: field.describe("F.") }), "spec"));
    expect(err.path).toBe("spec.f");
    expect(err.message).toMatch(message);
  });

  it("turns literal unions into enums, records into additionalProperties and drops strictness", () => {
    const schema = z.strictObject({
      mode: z.union([z.literal("a"), z.literal("b")]).describe("Mode."),
      labels: z.record(z.string(), z.string()).optional().describe("Labels."),
    });
    expect(toStructuralSchema(schema)).toEqual({
      type: "object",
      properties: {
        mode: { type: "string", enum: ["a", "b"], description: "Mode." },
        labels: { type: "object", additionalProperties: { type: "string" }, description: "Labels." },
      },
      required: ["mode"],
    });
  });

  it("passes x-kubernetes-* meta through, including int-or-string and preserve-unknown-fields", () => {
    const schema = z.object({
      port: z.union([z.int(), z.string()]).describe("Port.").meta({ "x-kubernetes-int-or-string": true }),
      raw: z.unknown().describe("Raw.").meta({ "x-kubernetes-preserve-unknown-fields": true }),
      tags: z.array(z.string()).max(3).describe("Tags.").meta({ "x-kubernetes-list-type": "set" }),
    });
    const props = at(toStructuralSchema(schema), "properties") as Json;
    expect(props.port).toEqual({
      anyOf: [{ type: "integer" }, { type: "string" }],
      description: "Port.",
      "x-kubernetes-int-or-string": true,
    });
    expect(props.raw).toEqual({ description: "Raw.", "x-kubernetes-preserve-unknown-fields": true });
    expect(props.tags).toMatchObject({ maxItems: 3, "x-kubernetes-list-type": "set" });
  });

  it("maps exclusive bounds and integer widths", () => {
    const schema = z.object({
      ratio: z.number().gt(0).lt(1).describe("Ratio."),
      small: z.int32().describe("Small."),
      big: z.int().describe("Big."),
    });
    const props = at(toStructuralSchema(schema), "properties") as Json;
    expect(props.ratio).toMatchObject({ minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true });
    expect(props.small).toEqual({ type: "integer", format: "int32", description: "Small." });
    expect(props.big).toEqual({ type: "integer", format: "int64", description: "Big." });
  });
});

describe("defineKind", () => {
  const base = {
    group: "test.cellcloud.io",
    version: "v1",
    kind: "Thing",
    plural: "things",
    scope: "Cluster",
    description: "A thing.",
    spec: z.object({ replicas: z.int().min(0).describe("Replicas.") }).describe("Spec."),
    status: z.object({ replicas: z.int().optional().describe("Replicas.") }).describe("Status."),
  } as const;

  it("adds the scale subresource, extra categories and a given Ready column only once", () => {
    const crd = defineKind({
      ...base,
      categories: ["extra"],
      scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas" },
      printerColumns: [{ name: "Ready", type: "integer", jsonPath: ".status.replicas" }],
    }).crd();
    expect(at(crd, "spec", "names", "categories")).toEqual(["cellcloud", "extra"]);
    expect(at(crd, "spec", "versions", 0, "subresources", "scale")).toEqual({
      specReplicasPath: ".spec.replicas",
      statusReplicasPath: ".status.replicas",
    });
    const columns = at(crd, "spec", "versions", 0, "additionalPrinterColumns") as Json[];
    expect(columns.map((c) => c.name)).toEqual(["Ready", "Age"]);
  });

  it("rejects a spec without a description, printer columns naming no field and bad names", () => {
    expect(() => defineKind({ ...base, spec: z.object({}) }).crd()).toThrow(/^spec: missing description/);
    const typo = defineKind({ ...base, printerColumns: [{ name: "R", type: "integer", jsonPath: ".spec.replica" }] });
    expect(() => typo.crd()).toThrow(GeneratorError);
    expect(() => defineKind({ ...base, plural: "Things" })).toThrow(/invalid resource name/);
  });
});

// ==================== generate.ts ====================

describe("generateCrds", () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "crds-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const snapshot = (dir: string): Record<string, string> =>
    Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), "utf8")]));

  it("writes one headed file per kind, identically on every run", () => {
    const dir = tempDir();
    const written = generateCrds(dir);
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual(kinds.map((k) => `${k.group}_${k.plural}.yaml`));
    const first = snapshot(dir);
    generateCrds(dir);
    expect(snapshot(dir)).toEqual(first);
    const text = first["demo.cellcloud.io_widgets.yaml"] ?? "";
    expect(text.split("\n")[0]).toBe(HEADER);
    expect(parse(text)).toEqual(Widget.crd());
  });

  it("deletes stale generated files and keeps hand-written ones", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "old.example.io_gone.yaml"), `${HEADER}\nkind: CustomResourceDefinition\n`);
    writeFileSync(join(dir, "handwritten.yaml"), "kind: ConfigMap\n");
    writeFileSync(join(dir, "README.md"), "notes\n");
    const removed: string[] = [];
    generateCrds(dir, (line) => removed.push(line));
    const generated = kinds.map((k) => `${k.group}_${k.plural}.yaml`);
    expect(Object.keys(snapshot(dir)).sort()).toEqual(["README.md", "handwritten.yaml", ...generated].sort());
    expect(removed).toEqual([expect.stringContaining("old.example.io_gone.yaml")]);
  });
});
