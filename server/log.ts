// One structured logger for the server: a fixed message plus fields (sessionId, pid, ...).
// JSON lines in production; LOG_LEVEL picks the level (silent in tests unless asked).
import pino from "pino";

export const log = pino({
  level: process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
  base: { service: "nslab" },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = typeof log;
