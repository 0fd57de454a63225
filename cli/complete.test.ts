import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { bashScript, complete, formatCompletion, zshScript, type Lookup } from "./complete.ts";
import type { ConnectOptions } from "./kube.ts";
import { verbs } from "./verbs.ts";

const asked: Array<[string, ConnectOptions]> = [];
const lookup: Lookup = async (what, conn) => {
  asked.push([what, conn]);
  const names: Record<string, string[]> = { instances: ["web-1", "web-2", "db-1"], nodes: ["n1", "n2"], flavors: ["g1", "g2"], namespaces: ["acme", "default"], orders: ["instance/order-1"] };
  return names[what] ?? [];
};
const words = async (...w: string[]) => (await complete(w, lookup)).candidates.map((c) => c.split("\t")[0]);

describe("complete", () => {
  it("offers the verbs (not the hidden one) with their summaries first", async () => {
    const c = await complete([""], lookup);
    expect(c.candidates.map((x) => x.split("\t")[0])).toEqual(verbs.filter((v) => !v.hidden).map((v) => v.name));
    expect(c.candidates[0]).toBe("start\tStart (or resume) instances");
    expect(c.directive).toBe(4);
    expect(await words("re")).toEqual(["reboot", "resize"]);
  });

  it("offers instance names from the namespace the words name, without those already given", async () => {
    asked.length = 0;
    expect(await words("-n", "acme", "--context", "prod", "stop", "web-1", "")).toEqual(["web-2", "db-1"]);
    expect(asked).toEqual([["instances", { namespace: "acme", context: "prod" }]]);
    expect(await words("stop", "w")).toEqual(["web-1", "web-2"]);
    expect(await words("migrate", "web-1", "")).toEqual([]); // one instance only
  });

  it("offers flags, and the values of flags that take one", async () => {
    expect(await words("migrate", "web-1", "--")).toEqual(expect.arrayContaining(["--to", "--wait", "--namespace", "--kubeconfig"]));
    expect(await words("migrate", "web-1", "--to", "")).toEqual(["n1", "n2"]);
    expect(await words("resize", "web-1", "--flavor=g")).toEqual(["--flavor=g1", "--flavor=g2"]);
    expect(await words("-n", "")).toEqual(["acme", "default"]);
    expect(await words("start", "--wait", "")).toEqual(["web-1", "web-2", "db-1"]); // --wait takes its value only with =
    expect(await words("approve", "")).toEqual(["instance/order-1"]);
    expect(await words("completion", "")).toEqual([]);
  });

  it("offers nothing when a lookup fails", async () => {
    const failing: Lookup = () => Promise.reject(new Error("no cluster"));
    expect(await complete(["stop", ""], failing)).toEqual({ candidates: [], directive: 4 });
  });

  it("prints cobra's protocol: a candidate a line, then :directive", () => {
    expect(formatCompletion({ candidates: ["a\tdesc", "b"], directive: 4 })).toBe("a\tdesc\nb\n:4\n");
  });
});

describe("completion scripts", () => {
  it("bash: completes verbs through kubectl-cellcloud __complete", () => {
    const dir = mkdtempSync(`${tmpdir()}/cellcloud-complete-`);
    // a stand-in for the plugin, answering as __complete does
    writeFileSync(`${dir}/kubectl-cellcloud`, `#!/usr/bin/env bash\n[[ $1 == __complete ]] && printf 'stop\\tStop instances\\nstart\\tStart\\n:4\\n'\n`);
    chmodSync(`${dir}/kubectl-cellcloud`, 0o755);
    const out = execFileSync("bash", ["-c", `${bashScript}\nCOMP_WORDS=(kubectl-cellcloud st); COMP_CWORD=1; _kubectl_cellcloud; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    expect(out).toBe("stop\nstart\n");
  });

  it("zsh: declares the function for compdef", () => {
    expect(zshScript).toMatch(/^#compdef kubectl-cellcloud/);
    expect(zshScript).toContain("kubectl-cellcloud __complete");
  });
});
