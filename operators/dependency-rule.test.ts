import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkImports, importSpecifiers, PLACEMENT_API, scanRepo, type Violation } from "./dependency-rule.ts";

// The imports of `file` that break the rule, for a one-file repository.
const broken = (file: string, src: string): string[] => checkImports(new Map([[file, src]])).map((v) => v.imports);

const line = (v: Violation): string => `${v.file} -> ${v.imports}: ${v.rule}`;

describe("checkImports: the rule", () => {
  it("fails a product importing another product", () => {
    const violations = checkImports(new Map([["operators/storage/a.ts", `import { b } from "../compute/b.ts";`]]));
    expect(violations).toEqual([
      {
        file: "operators/storage/a.ts",
        imports: "operators/compute/b.ts",
        rule: 'product "storage" imports product "compute" (products meet through api/ contracts and API objects)',
      },
    ]);
  });

  it("lets products import platform's placement API and nothing else of platform", () => {
    expect(broken("operators/compute/x.ts", `import { place } from "../platform/placement-api.ts";`)).toEqual([]);
    expect(PLACEMENT_API).toBe("operators/platform/placement-api.ts");
    expect(broken("operators/compute/x.ts", `import { isReady } from "../platform/nodepool.ts";`)).toEqual(["operators/platform/nodepool.ts"]);
  });

  it("lets a product import itself, runtime/ and api/, from nested folders too", () => {
    const src = `import "./a.ts";\nimport "../../runtime/queue.ts";\nimport "../../api/platform.ts";\nimport "../cell.ts";`;
    expect(broken("operators/platform/scheduler/x.ts", src)).toEqual([]);
  });

  it("fails runtime/ importing a product and passes runtime/ importing api/", () => {
    expect(broken("operators/runtime/x.ts", `import { f } from "../tenancy/approval.ts";`)).toEqual(["operators/tenancy/approval.ts"]);
    expect(broken("operators/runtime/x.ts", `import { refOf } from "../api/crd.ts";`)).toEqual([]);
  });

  it("fails api/ importing runtime/ or a product", () => {
    expect(broken("operators/api/x.ts", `import type { KubeObject } from "../runtime/types.ts";`)).toEqual(["operators/runtime/types.ts"]);
    expect(broken("operators/api/x.ts", `import { bytes } from "../platform/quantity.ts";`)).toEqual(["operators/platform/quantity.ts"]);
  });

  it("fails a product importing a root file", () => {
    expect(broken("operators/demo/x.ts", `import { controllers } from "../controllers.ts";`)).toEqual(["operators/controllers.ts"]);
  });

  it("lets root files import anything", () => {
    const src = `import "./compute/a.ts";\nimport "./platform/nodepool.ts";\nimport "./runtime/manager.ts";\nimport "../hack/x.ts";`;
    expect(broken("operators/main.ts", src)).toEqual([]);
  });

  it("holds test files to the rule of their folder", () => {
    expect(broken("operators/storage/a.test.ts", `import { b } from "../compute/b.ts";`)).toEqual(["operators/compute/b.ts"]);
  });

  it("derives product folders from paths, so a new product is covered without a list", () => {
    expect(broken("operators/billing/x.ts", `import { y } from "../network/y.ts";`)).toEqual(["operators/network/y.ts"]);
  });
});

describe("importSpecifiers: what counts as an import", () => {
  it("reads multi-line imports, import type, export from, dynamic and side-effect imports", () => {
    const src = [
      `import {\n  a,\n  type B,\n  c as d,\n} from "../compute/a.ts";`,
      `import type { E } from "../compute/e.ts";`,
      `import f, * as g from "../compute/f.ts";`,
      `export { h } from "../compute/h.ts";`,
      `export * as i from "../compute/i.ts";`,
      `export type { J } from "../compute/j.ts";`,
      `const k = await import("../compute/k.ts");`,
      `import "../compute/l.ts";`,
    ].join("\n");
    expect(importSpecifiers(src)).toEqual(["a", "e", "f", "h", "i", "j", "k", "l"].map((n) => `../compute/${n}.ts`));
    expect(broken("operators/storage/x.ts", src)).toHaveLength(8);
  });

  it("ignores imports inside comments", () => {
    const src = `// import { a } from "../compute/a.ts";\n/* import "../compute/b.ts";\n export * from "../compute/c.ts"; */\nconst x = 1;`;
    expect(importSpecifiers(src)).toEqual([]);
  });

  it("is not fooled by `from` and `import` inside strings, templates and regexes", () => {
    const src = [
      `const msg = "copied from " + name;`,
      `const doc = 'import x from "../compute/a.ts"';`,
      "const tpl = `export * from \"../compute/b.ts\" ${fn(`import(\"../compute/c.ts\")`)}`;",
      `const re = /import "..\\/compute\\/d.ts"/;`,
      `export const from = "../compute/e.ts";`,
      `export function load() { return import.meta.url; }`,
      `import { ok } from "./ok.ts";`,
    ].join("\n");
    expect(importSpecifiers(src)).toEqual(["./ok.ts"]);
  });

  it("ignores package imports", () => {
    const src = `import { z } from "zod";\nimport { createHash } from "node:crypto";\nimport * as k8s from "@kubernetes/client-node";`;
    expect(importSpecifiers(src)).toEqual(["zod", "node:crypto", "@kubernetes/client-node"]);
    expect(broken("operators/api/x.ts", src)).toEqual([]);
  });
});

describe("the real repository", () => {
  it("the repository follows the dependency rule", () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    // Compared as lines so a failure reads as the list of broken imports, one per line.
    const violations = checkImports(scanRepo(root)).map(line);
    expect(violations, `${violations.length} dependency rule violations:\n${violations.join("\n")}\n`).toEqual([]);
  });
});
