// Errors a reconcile may throw. A TerminalError is not retried: its reason and message go into the
// Ready condition so the user sees what to change. Anything else is retried with backoff.

/** An error whose `reason` (PascalCase, as in Kubernetes conditions) can reach a user unchanged. */
export class ReasonedError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.reason = reason;
  }
}

/** Do not retry: the spec (or another object) must change first. */
export class TerminalError extends ReasonedError {}

export function isTerminal(err: unknown): err is TerminalError {
  return err instanceof TerminalError;
}
