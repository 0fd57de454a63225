// Kubernetes resource quantities ("500m", "4Gi", "1.5") as exact integers: millicores and bytes.
// Arithmetic is done in bigint so "0.1" or "1.5Gi" never picks up a float rounding error.
import { ReasonedError } from "./errors.ts";

/** A quantity string that Kubernetes would reject, or one too large to hold as a safe integer. */
export class QuantityError extends ReasonedError {
  constructor(input: string, why: string) {
    super("InvalidQuantity", `invalid quantity ${JSON.stringify(input)}: ${why}`);
  }
}

// sign, mantissa, then at most one of: a decimal exponent, a binary suffix, a decimal suffix.
// The exponent is tried first so "1e3" is 1000 while "1E" alone is one exa.
const grammar = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]))?$/;

const binaryPowers: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const decimalPowers: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

// Keeps a hostile "1e999999999" from building a gigantic bigint; anything past this overflows anyway.
const maxExponent = 64;

/** The exact value as numerator / denominator (a power of ten), already multiplied by `unit`. */
interface Exact { numerator: bigint; denominator: bigint }

function parseExact(input: string, unit: bigint): Exact {
  const m = grammar.exec(input);
  if (!m) throw new QuantityError(input, "expected a number with an optional suffix such as m, Ki, Mi, Gi, k, M, G");
  const [, sign, mantissa = "", exponent, binary, decimal] = m;
  if (sign === "-") throw new QuantityError(input, "must not be negative");
  const [whole = "", fraction = ""] = mantissa.split(".");
  let power10 = -fraction.length + (decimal ? (decimalPowers[decimal] ?? 0) : 0);
  if (exponent !== undefined) {
    const e = Number(exponent);
    if (Math.abs(e) > maxExponent) throw new QuantityError(input, "exponent out of range");
    power10 += e;
  }
  let numerator = BigInt(whole + fraction || "0") * unit * 1024n ** BigInt(binary ? (binaryPowers[binary] ?? 0) : 0);
  if (power10 > 0) numerator *= 10n ** BigInt(power10);
  return { numerator, denominator: power10 < 0 ? 10n ** BigInt(-power10) : 1n };
}

// Rounds up, as Quantity.Value() and MilliValue() do: "1.0001" cores needs 1001m, not 1000m.
function toSafeInteger(input: string, { numerator, denominator }: Exact): number {
  const rounded = (numerator + denominator - 1n) / denominator;
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(input, "too large");
  return Number(rounded);
}

/** CPU in millicores: "500m" → 500, "2" → 2000, "1.5" → 1500. YAML may give a bare number. */
export function cpuMillis(quantity: string | number): number {
  const input = String(quantity);
  return toSafeInteger(input, parseExact(input, 1000n));
}

/** Memory or storage in bytes: "4Gi", "129M", "128974848", "1.5Gi". YAML may give a bare number. */
export function bytes(quantity: string | number): number {
  const input = String(quantity);
  return toSafeInteger(input, parseExact(input, 1n));
}

/** Millicores back to the canonical form: whole cores without a suffix, otherwise "m". */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

const binarySuffixes = ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] as const;
const decimalSuffixes = ["E", "P", "T", "G", "M", "k"] as const;

/** Bytes with the largest suffix that divides them exactly, so bytes(formatBytes(n)) === n. */
export function formatBytes(n: number): string {
  if (n === 0) return "0";
  for (const s of binarySuffixes) {
    const unit = 1024 ** (binaryPowers[s] ?? 0);
    if (n % unit === 0) return `${n / unit}${s}`;
  }
  for (const s of decimalSuffixes) {
    const unit = 10 ** (decimalPowers[s] ?? 0);
    if (n % unit === 0) return `${n / unit}${s}`;
  }
  return String(n);
}

/** value × ratio rounded down, with the ratio taken to thousandths so no float error creeps in. */
export function overcommitted(value: number, ratio: number): number {
  return Number((BigInt(value) * BigInt(Math.round(ratio * 1000))) / 1000n);
}
