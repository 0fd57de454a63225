// pino JSON logs. Secrets never reach them: known secret-bearing paths are redacted at the source.
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** `destination` defaults to stdout; tests pass a sink to read what the manager logged. */
export function newLogger(level = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream, app = "cellcloud-manager"): Logger {
  return pino({
    level,
    base: { app },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ["*.data", "*.stringData", "*.token", "*.password", "*.privateKey", "obj.data", "obj.stringData"], censor: "[redacted]" },
  }, destination);
}
