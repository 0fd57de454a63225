// GitOps: Argo CD's health check for CellCloud kinds (a Lua script, run here by a real Lua 5.4)
// agrees with kstatus, which Flux uses; the examples kustomization lists every example; and the
// Argo CD / Flux manifests point at paths that exist.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { kstatus, type KStatus } from "../operators/runtime/kstatus.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { binDir, repoRoot } from "./support/plane.ts";

const lua = readFileSync(`${repoRoot}/examples/gitops/argocd/health.lua`, "utf8");

/** JSON → Lua table literal (enough for Kubernetes objects: objects, arrays, strings, numbers, booleans). */
function toLua(v: unknown): string {
  if (Array.isArray(v)) return `{${v.map(toLua).join(",")}}`;
  if (v && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `[${JSON.stringify(k)}]=${toLua(x)}`).join(",")}}`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function argoHealth(obj: KubeObject): string {
  const script = `obj = ${toLua(obj)}\nlocal function check()\n${lua}\nend\nlocal hs = check()\nio.write(hs.status)`;
  return execFileSync("lua5.4", ["-"], { input: script, encoding: "utf8" });
}

const cond = (type: string, status: string, reason = "Reason", message = "message") => ({ type, status, reason, message, lastTransitionTime: "2026-01-01T00:00:00Z" });
const obj = (generation: number, status?: Record<string, unknown>): KubeObject => ({ metadata: { name: "x", generation }, ...(status ? { status } : {}) });
const cases: Array<[string, KubeObject]> = [
  ["no status yet", obj(1)],
  ["old generation observed", obj(3, { observedGeneration: 2, conditions: [cond("Ready", "True")] })],
  ["ready", obj(2, { observedGeneration: 2, conditions: [cond("Ready", "True")] })],
  ["not ready yet", obj(2, { observedGeneration: 2, conditions: [cond("Ready", "False")] })],
  ["stalled", obj(2, { observedGeneration: 2, conditions: [cond("Ready", "False"), cond("Stalled", "True")] })],
  ["no conditions", obj(1, { observedGeneration: 1 })],
];
type GitOpsDoc = { spec?: { source?: { path?: string }; path?: string; chart?: { spec?: { chart?: string } } } };
const argoFor: Record<KStatus, string> = { Current: "Healthy", InProgress: "Progressing", Failed: "Degraded" };

describe("GitOps", () => {
  it.each(cases)("Argo CD health matches kstatus: %s", (_name, o) => {
    expect(argoHealth(o)).toBe(argoFor[kstatus(o).status]);
  });

  it("embeds the same Lua in the argocd-cm snippet", () => {
    const cm = parse(readFileSync(`${repoRoot}/examples/gitops/argocd/argocd-cm-health.yaml`, "utf8")) as { data: Record<string, string> };
    expect(cm.data["resource.customizations.health.*.cellcloud.io_*"]?.trim()).toBe(lua.trim());
  });

  it("lists every top-level example in examples/kustomization.yaml", () => {
    const k = parse(readFileSync(`${repoRoot}/examples/kustomization.yaml`, "utf8")) as { resources: string[] };
    const files = readdirSync(`${repoRoot}/examples`).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
    expect([...k.resources].sort()).toEqual(files);
    const built = parseAllDocuments(execFileSync(`${binDir}/kubectl`, ["kustomize", `${repoRoot}/examples`], { encoding: "utf8" }));
    expect(built.length).toBeGreaterThanOrEqual(files.length);
  });

  it("points Argo CD and Flux at paths that exist in this repository", () => {
    const docs = ["argocd/cellcloud.yaml", "flux/cellcloud.yaml"].flatMap((f) =>
      parseAllDocuments(readFileSync(`${repoRoot}/examples/gitops/${f}`, "utf8")).map((d) => d.toJSON() as GitOpsDoc));
    const paths = docs.flatMap((d) => [d.spec?.source?.path, d.spec?.path, d.spec?.chart?.spec?.chart]).filter(Boolean) as string[];
    expect(paths.length).toBe(4);
    for (const p of paths) expect(existsSync(`${repoRoot}/${p}`), p).toBe(true);
  });
});
