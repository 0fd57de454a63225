// The error shape every layer shares: a `reason` (PascalCase, as in Kubernetes conditions) that can
// reach a user unchanged, next to the message.

/** An error whose `reason` (PascalCase, as in Kubernetes conditions) can reach a user unchanged. */
export class ReasonedError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.reason = reason;
  }
}
