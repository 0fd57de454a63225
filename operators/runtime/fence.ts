// Leadership fencing for writes. Work a manager starts as leader (controllers, the scheduler) runs
// inside a context that carries a check of the lease; the client refuses a write made from that
// context once the lease may have passed to a standby (by this process's own clock, the renew
// deadline since the last renewal was sent). A leader frozen (SIGSTOP, a long GC pause, a hung
// connection) and thawed after a standby took over therefore cannot write a single object. Work
// every replica does (the admission webhook) runs outside it and is never fenced.
import { AsyncLocalStorage } from "node:async_hooks";
import { ReasonedError } from "./errors.ts";

/** Why a write may not go out now, or undefined when it may. */
export type Fence = () => string | undefined;

const current = new AsyncLocalStorage<Fence>();

/** Runs `fn` (and everything it starts) behind `fence`. */
export function fenced<T>(fence: Fence, fn: () => T): T {
  return current.run(fence, fn);
}

export class NotLeaderError extends ReasonedError {
  constructor(why: string) {
    super("NotLeader", why);
  }
}

/** Throws if the calling context is fenced and the fence is down. */
export function checkFence(): void {
  const why = current.getStore()?.();
  if (why) throw new NotLeaderError(why);
}
