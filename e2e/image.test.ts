// The container image without a container engine: every file the Dockerfile copies from the build
// context exists and is not excluded by .dockerignore, and the compiled entrypoint starts.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/plane.ts";

const dockerfile = readFileSync(`${repoRoot}/Dockerfile`, "utf8");
const ignored = readFileSync(`${repoRoot}/.dockerignore`, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

describe("manager image (and the console's)", () => {
  it("copies only files that exist in the build context", () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
    expect(sources.length).toBeGreaterThan(3);
    for (const src of sources) {
      expect(existsSync(`${repoRoot}/${src}`), `${src} exists`).toBe(true);
      expect(ignored.includes(src) || ignored.includes(src.split("/")[0]!), `${src} is not in .dockerignore`).toBe(false);
    }
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
  });

  it("builds the entrypoint the Dockerfile runs, and it starts with --help", () => {
    const out = `${repoRoot}/.state/image-build`;
    rmSync(out, { recursive: true, force: true });
    execFileSync(`${repoRoot}/node_modules/.bin/tsc`, ["-p", "tsconfig.build.json", "--outDir", `${out}/dist`], { cwd: repoRoot });
    const entry = dockerfile.match(/^ENTRYPOINT \["node", "(.+)"\]$/m)?.[1];
    expect(entry).toBe("dist/operators/main.js");
    const help = execFileSync(process.execPath, [`${out}/${entry}`, "--help"], { encoding: "utf8" });
    expect(help).toContain("--controllers");
    expect(help).toContain("--leader-elect");
    // the console runs from the same image (the chart's console Deployment runs this command)
    const chart = readFileSync(`${repoRoot}/charts/cellcloud/templates/console.yaml`, "utf8");
    const consoleEntry = chart.match(/command: \["node", "(.+)"\]/)?.[1];
    expect(consoleEntry).toBe("dist/console/server/main.js");
    const consoleHelp = execFileSync(process.execPath, [`${out}/${consoleEntry}`, "--help"], { encoding: "utf8" });
    expect(consoleHelp).toContain("--apiserver-ca");
    expect(dockerfile).toMatch(/vite build --config console\/vite.config.ts --outDir \/src\/dist\/console\/dist/);
  });

  it("fills the compile cache the manager reads, as the user that runs it", () => {
    // Node keys the cache by architecture and uid: it is made in the final stage, after USER
    const warm = dockerfile.match(/^RUN node (dist\/operators\/warm-compile-cache\.js)$/m);
    const cacheDir = dockerfile.match(/^ENV NODE_COMPILE_CACHE=(\S+)$/m)?.[1];
    expect(warm && cacheDir).toBeTruthy();
    expect(dockerfile.indexOf("USER 1000:1000")).toBeLessThan(warm!.index!);
    expect(dockerfile.indexOf(`ENV NODE_COMPILE_CACHE=${cacheDir}`)).toBeLessThan(warm!.index!);
    const out = `${repoRoot}/.state/image-build`;
    if (!existsSync(`${out}/${warm![1]}`)) execFileSync(`${repoRoot}/node_modules/.bin/tsc`, ["-p", "tsconfig.build.json", "--outDir", `${out}/dist`], { cwd: repoRoot });
    const cache = `${out}/compile-cache`;
    rmSync(cache, { recursive: true, force: true });
    const said = execFileSync(process.execPath, [`${out}/${warm![1]}`], { encoding: "utf8", env: { ...process.env, NODE_COMPILE_CACHE: cache } });
    expect(said).toContain(`warm-compile-cache: ${cache}`);
    const [sub] = readdirSync(cache);
    // every module of every product, client-node's and the Kafka client's
    expect(readdirSync(`${cache}/${sub}`).length).toBeGreaterThan(1500);
  });
});
