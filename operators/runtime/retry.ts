// Conflict retry as client-go's retry.RetryOnConflict: re-run a read-modify-write on 409.
import { isConflict } from "./kube.ts";

export async function retryOnConflict<T>(fn: () => Promise<T>, { steps = 5, baseMs = 10 } = {}): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i + 1 >= steps) throw err;
      await new Promise((r) => setTimeout(r, baseMs * 2 ** i * (1 + Math.random() / 10)));
    }
  }
}
