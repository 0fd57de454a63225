// Kubernetes quantities as numbers, for bars and charts: "500m" → 0.5, "16Gi" → 17179869184, "3" → 3.
const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function parseQuantity(q: string | number | undefined | null): number | undefined {
  if (q === undefined || q === null) return undefined;
  if (typeof q === "number") return q;
  const m = /^\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)\s*$/.exec(q);
  if (!m) return undefined;
  return Number(m[1]) * (SUFFIX[m[2] ?? ""] ?? 1);
}

const BYTES = ["memory", "storage", "ephemeral-storage"];

/** A quantity for people: bytes as GiB/TiB, cpu as cores, counts as they are. */
export function formatQuantity(dimension: string, n: number | undefined): string {
  if (n === undefined) return "—";
  if (BYTES.includes(dimension)) {
    const gi = n / 2 ** 30;
    return gi >= 1024 ? `${+(gi / 1024).toFixed(2)} TiB` : `${+gi.toFixed(2)} GiB`;
  }
  return `${+n.toFixed(3)}`;
}

/** used + reserved as a percentage of hard, capped at 100 for the bar (the label shows the real figure). */
export function usagePercent(used: number, reserved: number, hard: number): { used: number; reserved: number } {
  if (!(hard > 0)) return { used: 0, reserved: 0 };
  const u = Math.min(100, (used / hard) * 100);
  return { used: u, reserved: Math.min(100 - u, (reserved / hard) * 100) };
}
