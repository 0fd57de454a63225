// The plugin's error shape: a `reason` (PascalCase) and a message printed as is after "error: ".
export class CliError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = "CliError";
    this.reason = reason;
  }
}
