// Which metrics the chart's Grafana dashboards read (pure, no cluster): every panel target's PromQL and
// every query variable's, so a test can check each one against what a live manager exports.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface DashboardMetric {
  /** The series name as the query writes it (a histogram's `_bucket`, `_sum` or `_count` included). */
  series: string;
  /** The metric family it belongs to: a histogram's or summary's name without those suffixes. */
  family: string;
  dashboard: string;
  /** The panel's title (rows' titles before it), or `$name` for a templating variable. */
  panel: string;
}

/** Words of PromQL that are not metric names when they stand alone (aggregations, operators, modifiers). */
const keywords = new Set([
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
  "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan",
]);
/** Followed by a parenthesised list of label names, not an expression. */
const labelLists = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

const histogramSuffix = /_(bucket|sum|count)$/;
export const familyOf = (series: string): string => series.replace(histogramSuffix, "");

/** Index just past a quoted string starting at i ("…", '…' or `…`; backslash escapes in the first two). */
function skipString(s: string, i: number): number {
  const q = s[i];
  for (i++; i < s.length && s[i] !== q; i++) if (s[i] === "\\" && q !== "`") i++;
  return i + 1;
}

/** Index just past the bracket that closes the one at i, strings inside skipped. */
function skipGroup(s: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(s, i) - 1;
    else if (c === open) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  return i;
}

/** A `__name__="x"` matcher names a metric too. */
function nameMatcher(matchers: string): string[] {
  const m = /__name__\s*=\s*(["'`])([a-zA-Z_:][a-zA-Z0-9_:]*)\1/.exec(matchers);
  return m ? [m[2]!] : [];
}

/**
 * The metric names a PromQL expression selects, in order of appearance and without repeats: functions,
 * aggregations, keywords, label matchers and grouping lists, durations, numbers and strings are not
 * names; Grafana's `$var`, `${var}` and `[[var]]` are dropped first.
 */
export function metricsInExpr(expr: string): string[] {
  const s = expr.replace(/\[\[[^\]]*\]\]/g, " ").replace(/\$\{[^}]*\}/g, " ").replace(/\$[a-zA-Z_][a-zA-Z0-9_]*/g, " ");
  const out: string[] = [];
  const add = (n: string) => { if (!out.includes(n)) out.push(n); };
  const number = /^(0x[0-9a-fA-F]+|(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?([smhdwy]|ms)*)/;
  const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const rest = s.slice(i);
    if (c === '"' || c === "'" || c === "`") { i = skipString(s, i); continue; }
    if (c === "#") { while (i < s.length && s[i] !== "\n") i++; continue; } // a comment
    if (c === "{") { const end = skipGroup(s, i, "{", "}"); nameMatcher(s.slice(i, end)).forEach(add); i = end; continue; }
    if (c === "[") { i = skipGroup(s, i, "[", "]"); continue; } // a range or subquery: durations only
    const num = /[0-9.]/.test(c) ? number.exec(rest) : null;
    if (num) { i += num[0].length; continue; }
    const id = ident.exec(rest);
    if (!id) { i++; continue; }
    const word = id[0];
    i += word.length;
    let j = i;
    while (j < s.length && /\s/.test(s[j]!)) j++;
    const next = s[j];
    if (labelLists.has(word.toLowerCase())) { if (next === "(") i = skipGroup(s, j, "(", ")"); continue; }
    if (next === "(" || keywords.has(word.toLowerCase())) continue; // a function or an aggregation
    add(word);
  }
  return out;
}

/** Splits `a, b(c, d), "e,f"` at its top-level commas. */
function topLevelArgs(s: string): string[] {
  const args: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(s, i) - 1;
    else if (c === "(") i = skipGroup(s, i, "(", ")") - 1;
    else if (c === "{") i = skipGroup(s, i, "{", "}") - 1;
    else if (c === "[") i = skipGroup(s, i, "[", "]") - 1;
    else if (c === ",") { args.push(s.slice(start, i)); start = i + 1; }
  }
  args.push(s.slice(start));
  return args.map((a) => a.trim()).filter(Boolean);
}

/**
 * The metric names of a Prometheus templating variable's query: `label_values(metric{…}, label)`,
 * `query_result(expr)` and `series(…)`/`metrics(…)`-free forms; `label_values(label)`, `label_names()`
 * and `metrics(regex)` select no metric.
 */
export function metricsInVariableQuery(query: string): string[] {
  const m = /^\s*([a-z_]+)\s*\(([\s\S]*)\)\s*$/.exec(query);
  if (!m) return [];
  const [, fn, body] = m as unknown as [string, string, string];
  if (fn === "label_values") {
    const args = topLevelArgs(body);
    return args.length >= 2 ? metricsInExpr(args[0]!) : [];
  }
  if (fn === "query_result") return metricsInExpr(body);
  return [];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

/** Every metric a dashboard's panels (rows' nested panels too) and query variables use. */
export function dashboardMetrics(dashboard: unknown, name = ""): DashboardMetric[] {
  if (!isObject(dashboard)) return [];
  const title = name || String(dashboard.title ?? dashboard.uid ?? "");
  const out: DashboardMetric[] = [];
  const found = (series: string, panel: string) => out.push({ series, family: familyOf(series), dashboard: title, panel });
  const walk = (panels: Json[], within: string) => {
    for (const p of panels) {
      const here = [within, String(p.title ?? `panel ${String(p.id ?? "?")}`)].filter(Boolean).join(" / ");
      for (const t of list(p.targets)) if (typeof t.expr === "string") metricsInExpr(t.expr).forEach((m) => found(m, here));
      walk(list(p.panels), p.type === "row" ? here : within);
    }
  };
  walk(list(dashboard.panels), "");
  for (const r of list(dashboard.rows)) walk(list(r.panels), String(r.title ?? "")); // the pre-5.0 layout
  for (const v of list(isObject(dashboard.templating) ? dashboard.templating.list : undefined)) {
    if (v.type !== "query") continue;
    const q = isObject(v.query) ? v.query.query : v.query;
    if (typeof q === "string") metricsInVariableQuery(q).forEach((m) => found(m, `$${String(v.name)}`));
  }
  return out;
}

/** The chart's dashboards: file name → parsed JSON. */
export function chartDashboards(dir: string): Map<string, unknown> {
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  return new Map(files.map((f) => [f, JSON.parse(readFileSync(path.join(dir, f), "utf8")) as unknown]));
}

/** The series names with at least one sample in a Prometheus text exposition (HELP/TYPE alone do not count). */
export function exposedSeries(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{\s]/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** What the dashboards use that `exposed` lacks, one line per series: "name (dashboard: panel, …)". */
export function missingMetrics(used: readonly DashboardMetric[], exposed: ReadonlySet<string>): string[] {
  const where = new Map<string, string[]>();
  for (const u of used) {
    if (exposed.has(u.series)) continue;
    const at = `${u.dashboard}: ${u.panel}`;
    const w = where.get(u.series) ?? [];
    if (!w.includes(at)) w.push(at);
    where.set(u.series, w);
  }
  return [...where].map(([series, w]) => `${series} (${w.join("; ")})`);
}
