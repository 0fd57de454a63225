// Command-line parsing (node:util parseArgs over the table in verbs.ts) and the --help texts.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { CliError } from "./errors.ts";
import type { ConnectOptions } from "./kube.ts";
import { DEFAULT_WAIT, findVerb, globalOptions, verbs, type OptionDef, type Verb } from "./verbs.ts";

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandLine {
  /** Undefined for the bare root (`kubectl cellcloud` or `kubectl cellcloud --help`). */
  verb?: Verb;
  help: boolean;
  connect: ConnectOptions;
  allNamespaces: boolean;
  options: OptionValues;
  args: string[];
}

const toConfig = (defs: Record<string, OptionDef>): ParseArgsOptionsConfig =>
  Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, { type: d.type, ...(d.short ? { short: d.short } : {}), ...(d.multiple ? { multiple: true } : {}) }]));

/** `--wait` alone means the default duration: parseArgs has no optional option values. */
function normalize(argv: string[]): string[] {
  const end = argv.indexOf("--");
  return argv.map((a, i) => (a === "--wait" && (end < 0 || i < end) ? `--wait=${DEFAULT_WAIT}` : a));
}


/** The verb: the first positional once the global flags (and their values) are set aside. */
export function verbPosition(argv: string[]): { index: number; name: string } | undefined {
  const { tokens } = parseArgs({ args: argv, options: toConfig(globalOptions), strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === "positional");
  return first?.kind === "positional" ? { index: first.index, name: first.value } : undefined;
}

export function parseCommandLine(raw: string[]): CommandLine {
  const argv = normalize(raw);
  const at = verbPosition(argv);
  const verb = at ? findVerb(at.name) : undefined;
  if (at && !verb) throw new CliError("UnknownVerb", `unknown verb "${at.name}"; run kubectl cellcloud --help for the list`);
  const rest = at ? [...argv.slice(0, at.index), ...argv.slice(at.index + 1)] : argv;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: toConfig({ ...globalOptions, ...verb?.options }), strict: true, allowPositionals: true });
  } catch (e) {
    const where = verb ? `kubectl cellcloud ${verb.name} --help` : "kubectl cellcloud --help";
    throw new CliError("InvalidFlag", `${(e as Error).message.replace(/\. To specify a positional.*$/s, "")}; see ${where}`);
  }
  const v = parsed.values as OptionValues;
  const str = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
  const connect: ConnectOptions = {};
  for (const [k, key] of [["kubeconfig", "kubeconfig"], ["context", "context"], ["namespace", "namespace"], ["as", "as"]] as const) {
    const value = str(k);
    if (value !== undefined) connect[key] = value;
  }
  if (Array.isArray(v["as-group"])) connect.asGroups = v["as-group"];
  const help = v.help === true;
  const allNamespaces = v["all-namespaces"] === true;
  if (verb && !help) {
    if (allNamespaces && !verb.allNamespaces) throw new CliError("InvalidFlag", `-A/--all-namespaces: ${verb.name} acts on named objects in one namespace; pass -n NAMESPACE`);
    const n = parsed.positionals.length;
    if (n < verb.args.min || n > verb.args.max) {
      throw new CliError("InvalidArguments", `${verb.name}: expected ${verb.usage}, got ${n ? parsed.positionals.join(" ") : "no arguments"}`);
    }
  }
  return { ...(verb ? { verb } : {}), help, connect, allNamespaces, options: v, args: parsed.positionals };
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as kubectl takes it: "90s", "5m", "1h30m", "500ms"; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text) throw new CliError("InvalidFlag", `${flag}: expected a duration such as 90s, 5m or 1h, got "${text}"`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] ?? "s"] ?? 1000), 0);
}

const pad = (s: string, n: number) => s + " ".repeat(Math.max(1, n - s.length));

function optionLines(defs: Record<string, OptionDef>): string[] {
  const left = Object.entries(defs).map(([k, d]) => `${d.short ? `-${d.short}, ` : "    "}--${k}${d.type === "string" ? (d.inline ? `[=${d.value ?? "VALUE"}]` : ` ${d.value ?? "VALUE"}`) : ""}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return Object.values(defs).map((d, i) => `  ${pad(left[i] ?? "", width)}${d.help}`);
}

export function rootHelp(): string {
  const shown = verbs.filter((v) => !v.hidden);
  const width = Math.max(...shown.map((v) => v.name.length)) + 3;
  const groups = [...new Set(shown.map((v) => v.group))];
  return [
    "kubectl cellcloud: imperative verbs over CellCloud's declarative APIs. Each verb writes spec fields",
    "(a JSON merge patch, field manager kubectl-cellcloud) or reads status; the controllers do the rest.",
    "",
    "Usage:",
    "  kubectl cellcloud VERB [ARGS...] [flags]",
    ...groups.flatMap((g) => ["", `${g}:`, ...shown.filter((v) => v.group === g).map((v) => `  ${pad(v.name, width)}${v.summary}`)]),
    "",
    "Global flags:",
    ...optionLines(globalOptions),
    "",
    "Run kubectl cellcloud VERB --help for a verb's flags and examples.",
    "",
  ].join("\n");
}

export function verbHelp(v: Verb): string {
  return [
    `${v.summary}.`,
    "",
    v.description,
    "",
    "Usage:",
    `  kubectl cellcloud ${v.usage} [flags]`,
    ...(v.examples.length ? ["", "Examples:", ...v.examples.map((e) => `  ${e}`)] : []),
    ...(Object.keys(v.options).length ? ["", "Flags:", ...optionLines(v.options)] : []),
    "",
    "Global flags:",
    ...optionLines(globalOptions),
    "",
  ].join("\n");
}
