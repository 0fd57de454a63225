// pino JSON logs. Secrets never reach them: known secret-bearing paths are redacted at the source.
import { pino, type Logger } from "pino";

export type { Logger };

export function newLogger(level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { app: "cellcloud-manager" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ["*.data", "*.stringData", "*.token", "*.password", "*.privateKey", "obj.data", "obj.stringData"], censor: "[redacted]" },
  });
}
