// Conflict retry as client-go's retry.RetryOnConflict: re-run a read-modify-write on 409.
import { backoffDelay } from "./backoff.ts";
import { isConflict } from "./kube.ts";

export async function retryOnConflict<T>(fn: () => Promise<T>, { steps = 5, baseMs = 10 } = {}): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i + 1 >= steps) throw err;
      await new Promise((r) => setTimeout(r, backoffDelay({ initialMs: baseMs, maxMs: 60_000, jitter: 0.1 }, i)));
    }
  }
}
