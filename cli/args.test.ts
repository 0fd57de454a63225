import { describe, expect, it } from "vitest";
import { parseCommandLine, parseDuration, rootHelp, verbHelp } from "./args.ts";
import { verbs } from "./verbs.ts";

describe("parseCommandLine", () => {
  it("finds the verb after global flags and their values, and keeps kubectl's global flags", () => {
    const l = parseCommandLine(["--context", "prod", "-n", "acme", "stop", "web-1", "web-2", "--kubeconfig=/k", "--as", "bob", "--as-group", "a", "--as-group", "b"]);
    expect(l.verb?.name).toBe("stop");
    expect(l.args).toEqual(["web-1", "web-2"]);
    expect(l.connect).toEqual({ context: "prod", namespace: "acme", kubeconfig: "/k", as: "bob", asGroups: ["a", "b"] });
  });

  it("takes --wait alone as the default duration and --wait=90s as given, never eating the next name", () => {
    expect(parseCommandLine(["start", "--wait", "web-1"])).toMatchObject({ args: ["web-1"], options: { wait: "5m" } });
    expect(parseCommandLine(["start", "web-1", "--wait=90s"]).options.wait).toBe("90s");
    expect(parseCommandLine(["start", "web-1"]).options.wait).toBeUndefined();
  });

  it("parses each verb's own flags", () => {
    expect(parseCommandLine(["migrate", "web-1", "--to", "n2"]).options.to).toBe("n2");
    expect(parseCommandLine(["resize", "web-1", "--cpus", "4", "--memory", "8Gi"]).options).toMatchObject({ cpus: "4", memory: "8Gi" });
    expect(parseCommandLine(["approve", "--list", "-A"])).toMatchObject({ allNamespaces: true, options: { list: true } });
    expect(parseCommandLine(["console-url", "web-1", "--console-url", "https://c.example"]).options["console-url"]).toBe("https://c.example");
  });

  it("refuses unknown verbs and flags, a flag of another verb, wrong argument counts and -A where it means nothing", () => {
    expect(() => parseCommandLine(["explode"])).toThrow(/unknown verb "explode"/);
    expect(() => parseCommandLine(["stop", "web-1", "--to", "n1"])).toThrow(/Unknown option '--to'.*kubectl cellcloud stop --help/);
    expect(() => parseCommandLine(["stop"])).toThrow(/stop: expected stop NAME\.\.\./);
    expect(() => parseCommandLine(["migrate", "a", "b"])).toThrow(/migrate: expected migrate NAME/);
    expect(() => parseCommandLine(["stop", "web-1", "-A"])).toThrow(/-A\/--all-namespaces: stop acts on named objects/);
  });

  it("lets --help through without the verb's arguments", () => {
    expect(parseCommandLine(["resize", "--help"])).toMatchObject({ help: true, verb: { name: "resize" } });
    expect(parseCommandLine(["-h"]).verb).toBeUndefined();
  });
});

describe("parseDuration", () => {
  it("reads kubectl-style durations; a bare number is seconds", () => {
    expect(parseDuration("--wait", "90s")).toBe(90_000);
    expect(parseDuration("--wait", "1h30m")).toBe(5_400_000);
    expect(parseDuration("--wait", "500ms")).toBe(500);
    expect(parseDuration("--wait", "20")).toBe(20_000);
    expect(() => parseDuration("--wait", "soon")).toThrow('--wait: expected a duration such as 90s, 5m or 1h, got "soon"');
  });
});

describe("help", () => {
  it("lists every verb on the root, and each verb documents its flags", () => {
    const root = rootHelp();
    for (const v of verbs.filter((x) => !x.hidden)) expect(root).toMatch(new RegExp(`^  ${v.name} +${v.summary.replace(/[()]/g, "\\$&")}$`, "m"));
    expect(root).not.toContain("__complete");
    expect(verbHelp(verbs.find((v) => v.name === "resize")!)).toMatch(/--flavor FLAVOR[\s\S]*--cpus N[\s\S]*--memory SIZE[\s\S]*--wait\[=DURATION\]/);
  });
});
