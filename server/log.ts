// One structured logger for the server: a fixed message plus fields (sessionId, pid, ...).
// JSON lines on stdout for the server; `nslab run` sends them to stderr (stdout belongs to
// the command) and shows only warnings. LOG_LEVEL overrides; tests are silent unless asked.
import pino from "pino";

export const log = pino(
  {
    level: process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
    base: { service: "nslab" },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ fd: process.env.NSLAB_LOG_TO_STDERR ? 2 : 1, sync: true }),
);

export type Logger = typeof log;
