// The Helm chart with the pinned helm: lint-clean, stable template output, `helm install` into the
// local control plane creates every object, `helm uninstall` removes them and keeps the CRDs.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { parseAllDocuments } from "yaml";
import { kubectl, uniqueName, useNamespace } from "./support/kube.ts";
import { binDir, repoRoot } from "./support/plane.ts";

const chart = `${repoRoot}/charts/cellcloud`;
const helm = (...args: string[]) => execFileSync(`${binDir}/helm`, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const ns = useNamespace("helm");

describe("helm chart", () => {
  it("lints clean and renders the same output twice", () => {
    expect(helm("lint", chart, "--strict", "--set", "kwok.enabled=true")).toContain("0 chart(s) failed");
    const render = () => helm("template", "cc", chart, "--kube-version", "1.34.2", "--set", "kwok.enabled=true");
    expect(render()).toBe(render());
  });

  it("installs every object into the local control plane and uninstalls them, keeping the CRDs", () => {
    const release = uniqueName("cc");
    const kc = ["--kubeconfig", inject("kubeconfig"), "--namespace", ns.name];
    // hack/up made the public image namespace already: the chart binds its reader role there only
    const values = ["--set", "kwok.enabled=true", "--set", "publicImages.createNamespace=false"];
    const rendered = helm("template", release, chart, "--kube-version", "1.34.2", "--namespace", ns.name, ...values);
    const docs = parseAllDocuments(rendered).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string } }).filter(Boolean);
    const expected = docs.map((o) => `${o.kind}/${o.metadata.name}`);
    const where = (kind: string, name: string) => {
      if (kind.startsWith("Cluster")) return [];
      return ["-n", docs.find((o) => o.kind === kind && o.metadata.name === name)?.metadata.namespace ?? ns.name];
    };
    expect(expected.length).toBeGreaterThan(12);

    // hack/up applies the tenants' and the console's built-in roles to the local plane; here the chart must own them
    for (const file of ["tenant-roles.yaml", "console-roles.yaml", "public-images.yaml"]) {
      const path = `${chart}/files/${file}`;
      kubectl(["delete", "-f", path, "--ignore-not-found"]);
      onTestFinished(() => { kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=cellcloud-hack", "-f", path]); });
    }
    helm("install", release, chart, ...kc, ...values);
    const manifest = helm("get", "manifest", release, ...kc);
    for (const id of expected) {
      const [kind, name] = id.split("/") as [string, string];
      expect(kubectl(["get", kind.toLowerCase(), name, ...where(kind, name), "-o", "name"])).toContain(name);
      expect(manifest).toContain(`name: ${name}`);
    }
    expect(helm("status", release, ...kc)).toContain("STATUS: deployed");

    helm("uninstall", release, ...kc, "--wait");
    for (const id of expected) {
      const [kind, name] = id.split("/") as [string, string];
      const out = kubectl(["get", kind.toLowerCase(), name, ...where(kind, name), "--ignore-not-found", "-o", "name"]);
      expect(out.trim(), `${id} removed`).toBe("");
    }
    expect(kubectl(["get", "crd", "widgets.demo.cellcloud.io", "-o", "name"])).toContain("widgets.demo.cellcloud.io");
  });

  it("renders one labelled dashboard ConfigMap per files/dashboards/*.json, billing's and the webhook's only while they are on", () => {
    const dashboards = (...set: string[]) => parseAllDocuments(helm("template", "r", chart, "--kube-version", "1.34.2", ...set.flatMap((s) => ["--set", s])))
      .map((d) => d.toJSON() as { kind: string; metadata: { labels?: Record<string, string> }; data: Record<string, string> } | null)
      .filter((o) => o?.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1")
      .flatMap((o) => Object.entries(o!.data).map(([file, json]) => `${file} ${(JSON.parse(json) as { uid: string }).uid}`)).sort();
    const all = readdirSync(`${chart}/files/dashboards`).filter((f) => f.endsWith(".json")).map((f) => `${f} cellcloud-${f.replace(/\.json$/, "")}`).sort();
    expect(dashboards("billing.enabled=true", "billing.database.inCluster.enabled=true")).toEqual(all);
    expect(dashboards("webhook.enabled=false")).toEqual(all.filter((d) => !/^(billing|webhook)\.json/.test(d)));
    expect(dashboards("grafana.dashboards.enabled=false")).toEqual([]);
  });

  it("renders the webhook's ClusterRole, which owns the webhook configurations, only while the webhook is on", () => {
    const kinds = (...set: string[]) => parseAllDocuments(helm("template", "r", chart, "--kube-version", "1.34.2", ...set.flatMap((s) => ["--set", s])))
      .map((d) => d.toJSON() as { kind: string; metadata: { name: string } } | null).filter((o) => o !== null).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds()).toContain("ClusterRole/r-cellcloud-webhook");
    expect(helm("template", "r", chart, "--kube-version", "1.34.2")).toContain("--webhook-owner-clusterrole=r-cellcloud-webhook");
    // turning the webhook off removes the owner, so the garbage collector removes the configurations
    // (deleting the owner takes them along: e2e/security.test.ts)
    expect(kinds("webhook.enabled=false").filter((k) => k.includes("webhook"))).toEqual([]);
  });
});
