import { describe, expect, it } from "vitest";
import { parseStatTicks, parseStatus } from "./proc.ts";

describe("/proc parsers", () => {
  it("reads VmHWM and VmRSS", () => {
    const status = "Name:\tkube-scheduler\nVmPeak:\t 1300000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\nThreads:\t12\n";
    expect(parseStatus(status)).toEqual({ peakKiB: 123456, rssKiB: 100000 });
  });

  it("reads utime + stime even when the command name holds spaces and parentheses", () => {
    const stat = "4242 (node (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 99 0 0";
    expect(parseStatTicks(stat)).toBe(300);
  });
});
