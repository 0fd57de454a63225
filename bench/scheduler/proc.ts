// A scheduler process's memory and CPU from /proc (BENCH.md's footprint rules). The parsers are pure.
import { readFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";

export interface Memory {
  /** VmHWM: peak resident set, KiB. */
  peakKiB: number;
  /** VmRSS: current resident set, KiB. */
  rssKiB: number;
}

export function parseStatus(text: string): Memory {
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(text);
    if (!m) throw new Error(`/proc status has no ${field}`);
    return Number(m[1]);
  };
  return { peakKiB: kib("VmHWM"), rssKiB: kib("VmRSS") };
}

/** utime + stime in clock ticks, from /proc/<pid>/stat (fields 14 and 15; the comm may hold spaces). */
export function parseStatTicks(text: string): number {
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  return Number(rest[11]) + Number(rest[12]);
}

export function memoryOf(pid: number): Memory {
  return parseStatus(readFileSync(`/proc/${pid}/status`, "utf8"));
}

let clockTicks: number | undefined;
/** CPU seconds (user + system) the process has used so far. */
export function cpuSecondsOf(pid: number): number {
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return parseStatTicks(readFileSync(`/proc/${pid}/stat`, "utf8")) / clockTicks;
}

/**
 * CPU seconds used so far by each named process whose pid file hack/up keeps in `pidDir`
 * (`$STATE/pids/<name>.pid`); one that is not running is left out.
 */
export function cpuOfPidFiles(pidDir: string, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    try {
      out[name] = cpuSecondsOf(Number(readFileSync(`${pidDir}/${name}.pid`, "utf8").trim()));
    } catch {
      // not running
    }
  }
  return out;
}

/** The commit a bench runs from (short), with "+changes" when `paths` hold uncommitted changes: what its figures belong to. */
export function gitCommit(repo: string, paths: readonly string[]): string {
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" }).stdout.trim();
  const dirty = spawnSync("git", ["status", "--porcelain", "--", ...paths], { cwd: repo, encoding: "utf8" }).stdout.trim();
  return dirty ? `${head}+changes` : head;
}

/** The machine, for the report: cpu count and model, memory, load. */
export function machine(): { cpus: number; model: string; memGiB: number; load: string } {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    load: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}
