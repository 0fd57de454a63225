// Errors a reconcile may throw. A TerminalError is not retried: its reason and message go into the
// Ready condition so the user sees what to change. Anything else is retried with backoff.

import { ReasonedError } from "../api/errors.ts";

export { ReasonedError };

/** Do not retry: the spec (or another object) must change first. */
export class TerminalError extends ReasonedError {}

export function isTerminal(err: unknown): err is TerminalError {
  return err instanceof TerminalError;
}
