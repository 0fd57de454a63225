// Quantity parsing must agree with Kubernetes on every spelling a pod spec can carry.
import { describe, expect, it } from "vitest";
import { QuantityError, bytes, cpuMillis, formatBytes, formatCpu } from "./quantity.ts";

describe("cpuMillis", () => {
  it.each([
    ["500m", 500],
    ["2", 2000],
    ["1.5", 1500],
    ["0.1", 100],
    [".5", 500],
    ["1e3", 1_000_000],
    ["250000u", 250],
    ["1k", 1_000_000],
    ["+3", 3000],
    [4, 4000],
  ] as const)("%s → %i millicores", (input, want) => {
    expect(cpuMillis(input)).toBe(want);
  });

  it("rounds a fraction of a millicore up, as MilliValue does", () => {
    expect(cpuMillis("1.0001")).toBe(1001);
    expect(cpuMillis("1n")).toBe(1);
  });
});

describe("bytes", () => {
  it.each([
    ["4Gi", 4 * 1024 ** 3],
    ["128974848", 128_974_848],
    ["129M", 129_000_000],
    ["1.5Gi", 1.5 * 1024 ** 3],
    ["512Ki", 512 * 1024],
    ["64Mi", 64 * 1024 ** 2],
    ["2Ti", 2 * 1024 ** 4],
    ["1Pi", 1024 ** 5],
    ["1k", 1000],
    ["1G", 1e9],
    ["1T", 1e12],
    ["1P", 1e15],
    ["0.002E", 2e15],
    ["12e6", 12_000_000],
    ["0", 0],
  ] as const)("%s → %i bytes", (input, want) => {
    expect(bytes(input)).toBe(want);
  });

  it.each(["", "Gi", "4 Gi", "4GB", "4gi", "1.2.3", "abc", "-1Gi", "1e", "0x10", "1e99999"])(
    "rejects %j with a QuantityError naming the input",
    (input) => {
      const err = (() => {
        try {
          bytes(input);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(QuantityError);
      expect((err as QuantityError).reason).toBe("InvalidQuantity");
      expect((err as QuantityError).message).toContain(JSON.stringify(input));
    },
  );

  it("refuses values that do not fit a safe integer instead of rounding them", () => {
    expect(() => bytes("8Ei")).toThrow(QuantityError);
  });
});

describe("formatting", () => {
  it("prints whole cores bare and the rest in millicores", () => {
    expect(formatCpu(2000)).toBe("2");
    expect(formatCpu(1500)).toBe("1500m");
    expect(formatCpu(0)).toBe("0");
  });

  it("prints bytes with the largest exact suffix", () => {
    expect(formatBytes(4 * 1024 ** 3)).toBe("4Gi");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1536Mi");
    expect(formatBytes(129_000_000)).toBe("129M");
    expect(formatBytes(1023)).toBe("1023");
    expect(formatBytes(0)).toBe("0");
  });

  it("round-trips through the parser", () => {
    for (const n of [1, 999, 1024, 1000, 3 * 1024 ** 2 + 1024, 7e9, 2 ** 52]) expect(bytes(formatBytes(n))).toBe(n);
    for (const m of [1, 999, 1000, 12_345]) expect(cpuMillis(formatCpu(m))).toBe(m);
  });
});
