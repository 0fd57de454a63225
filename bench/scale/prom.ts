// What bench/scale reads from the manager's /metrics: a Prometheus text parser and the few sums it
// needs (counter deltas between two scrapes, quantiles of a histogram's delta as histogram_quantile
// computes them, workqueue depths). Pure, so it is unit-tested.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text exposition format (comments skipped; label values unescaped; +Inf as
 * Infinity). With `prefixes`, only series whose name starts with one of them (a big scrape stays cheap).
 */
export function parseProm(text: string, prefixes?: readonly string[]): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#") || (prefixes && !prefixes.some((p) => line.startsWith(p)))) continue;
    const brace = line.indexOf("{");
    const close = line.lastIndexOf("}");
    const space = line.lastIndexOf(" ");
    if (space < 0) continue;
    let name = line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0 && close > brace && close < space) {
      name = line.slice(0, brace);
      const body = line.slice(brace + 1, close);
      const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
      for (let m = re.exec(body); m; m = re.exec(body)) labels[m[1]!] = m[2]!.replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    const raw = line.slice(space + 1).trim();
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

const keyOf = (s: Sample, drop: string[] = []) =>
  `${s.name}{${Object.entries(s.labels).filter(([k]) => !drop.includes(k)).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(",")}}`;

/** after − before for every series of `name` (a series missing before counts from 0), grouped by `by` labels. */
export function counterDelta(before: Sample[], after: Sample[], name: string, by: string[]): Map<string, number> {
  const prev = new Map(before.filter((s) => s.name === name).map((s) => [keyOf(s), s.value]));
  const out = new Map<string, number>();
  for (const s of after) {
    if (s.name !== name) continue;
    const d = s.value - (prev.get(keyOf(s)) ?? 0);
    const group = by.map((l) => s.labels[l] ?? "").join(" ");
    out.set(group, (out.get(group) ?? 0) + d);
  }
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return out;
}

/**
 * One scrape holding, per series, the sum of what it gained over several before/after pairs (a
 * series missing before counts from 0; one that went down, a restarted process, counts from 0 too):
 * counterDelta([], it) and histogramQuantiles([], it) then read the pairs as one span.
 */
export function sumOfDeltas(pairs: ReadonlyArray<readonly [Sample[], Sample[]]>): Sample[] {
  const out = new Map<string, Sample>();
  for (const [before, after] of pairs) {
    const prev = new Map(before.map((s) => [keyOf(s), s.value]));
    for (const s of after) {
      const k = keyOf(s);
      const b = prev.get(k) ?? 0;
      const d = s.value >= b ? s.value - b : s.value;
      const acc = out.get(k);
      if (acc) acc.value += d;
      else out.set(k, { name: s.name, labels: s.labels, value: d });
    }
  }
  return [...out.values()];
}

/** Sum of every series of `name` whose labels include `match`. */
export function total(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/**
 * The q-quantile (0..1) of the observations a histogram gained between two scrapes, per value of
 * `by`, interpolated inside the bucket as Prometheus' histogram_quantile does. Undefined with no
 * observations; the highest finite bound when the quantile lies in +Inf.
 */
export function histogramQuantiles(before: Sample[], after: Sample[], name: string, by: string, qs: number[]): Map<string, { count: number; q: number[] }> {
  const bucket = `${name}_bucket`;
  const delta = counterDelta(before, after, bucket, [by, "le"]);
  const groups = new Map<string, Array<{ le: number; n: number }>>();
  for (const [k, n] of delta) {
    const i = k.lastIndexOf(" ");
    const g = k.slice(0, i);
    const le = k.slice(i + 1) === "+Inf" ? Infinity : Number(k.slice(i + 1));
    groups.set(g, [...(groups.get(g) ?? []), { le, n }]);
  }
  const out = new Map<string, { count: number; q: number[] }>();
  for (const [g, raw] of groups) {
    const buckets = raw.sort((a, b) => a.le - b.le);
    const count = buckets.at(-1)?.n ?? 0;
    if (!count) continue;
    out.set(g, { count, q: qs.map((q) => bucketQuantile(buckets, count, q)) });
  }
  return out;
}

/** The q-quantile of cumulative buckets (ascending `le`, the last +Inf) holding `count` observations, interpolated as histogram_quantile does. */
export function bucketQuantile(buckets: ReadonlyArray<{ le: number; n: number }>, count: number, q: number): number {
  const rank = q * count;
  let prevLe = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + (b.le - prevLe) * ((rank - prevN) / Math.max(1, b.n - prevN));
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return prevLe;
}

/** Sorted "verb resource" → count entries, largest first, without zeroes. */
export function ranked(m: Map<string, number>): Array<[string, number]> {
  return [...m].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

/** The writes among request counts keyed "verb resource[ code]", split into lease renewals and the rest. */
export function writesOf(requests: Map<string, number>): { leases: number; other: number; byKind: Array<[string, number]> } {
  let leases = 0;
  let other = 0;
  const byKind = new Map<string, number>();
  for (const [k, n] of requests) {
    const [verb, resource] = k.split(" ");
    if (!WRITE_VERBS.has(verb!)) continue;
    if (resource === "leases.coordination.k8s.io") leases += n;
    else {
      other += n;
      byKind.set(`${verb} ${resource}`, (byKind.get(`${verb} ${resource}`) ?? 0) + n);
    }
  }
  return { leases, other, byKind: ranked(byKind) };
}

const APISERVER_WRITES = new Set(["POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"]);
/** Written on a timer whatever the number of objects (kwok's and the controllers' heartbeats), so not counted per object. */
const HEARTBEATS = new Set(["leases", "nodes"]);

/**
 * Every client's writes the apiserver served between two scrapes of its apiserver_request_total,
 * per object provisioned: what a phase cost the apiserver and etcd, by "VERB resource[/subresource]".
 * Lease and node heartbeats are left out (their number depends on time, not on the objects).
 */
export function apiserverWrites(before: Sample[], after: Sample[], objects: number): { total: number; perObject: number; byKind: Array<[string, number]> } {
  const by = new Map<string, number>();
  for (const [k, n] of counterDelta(before, after, "apiserver_request_total", ["verb", "resource", "subresource"])) {
    const [verb = "", resource = "", subresource] = k.split(" ");
    if (!APISERVER_WRITES.has(verb) || HEARTBEATS.has(resource) || n <= 0) continue;
    const kind = `${verb} ${resource}${subresource ? `/${subresource}` : ""}`;
    by.set(kind, (by.get(kind) ?? 0) + n);
  }
  const total = [...by.values()].reduce((a, n) => a + n, 0);
  return { total, perObject: objects > 0 ? Math.round((total / objects) * 100) / 100 : 0, byKind: ranked(by) };
}
