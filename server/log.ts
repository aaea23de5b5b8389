// One structured logger for the server: a fixed message plus fields (sessionId, pid, ...).
// JSON lines on stdout for the server; `nslab run` sends them to stderr (stdout belongs to
// the command) and shows only warnings. LOG_LEVEL overrides; tests are silent unless asked.
//
// pino itself is loaded by the first line written, not by importing this module: loading it
// costs some 35 ms, and `nslab run` (at warn) mostly writes no line at all. Every line is still
// pino's, written synchronously as before; only a process that never writes one never loads it.
import { createRequire } from "node:module";

import type pino from "pino";

/** pino's own levels and their numbers: a call below the threshold writes nothing. */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;

// Read now, as pino would have read them when this module loaded: `nslab run` sets both
// before it imports the sandbox's modules.
// A level that is none of these is written at info: the server's configuration refuses it in
// one line (server/config.ts), and that line must get out.
const asked = process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info");
const level = asked === "silent" || Object.hasOwn(LEVELS, asked) ? asked : "info";
const fd = process.env.NSLAB_LOG_TO_STDERR ? 2 : 1;
const threshold = level === "silent" ? Infinity : LEVELS[level as Level];

const requirePino = createRequire(import.meta.url);
// Found now, loaded later: a missing pino stops the process here, not at its first line.
requirePino.resolve("pino");

function createPino(): pino.Logger {
  const load = requirePino("pino") as typeof pino;
  return load(
    {
      level,
      base: { service: "nslab" },
      timestamp: load.stdTimeFunctions.isoTime,
    },
    load.destination({ fd, sync: true }),
  );
}

/** A pino logger made when it first has a line to write; its children are made from it then,
 *  with the fields they were given. */
class Logger {
  private made: pino.Logger | null = null;

  constructor(private readonly make: () => pino.Logger) {}

  readonly trace = this.writer("trace");
  readonly debug = this.writer("debug");
  readonly info = this.writer("info");
  readonly warn = this.writer("warn");
  readonly error = this.writer("error");
  readonly fatal = this.writer("fatal");

  child(bindings: pino.Bindings): Logger {
    // A copy: pino reads the fields when the child is made, which is now later than the call.
    const fields = { ...bindings };
    return new Logger(() => this.instance().child(fields));
  }

  private instance(): pino.Logger {
    this.made ??= this.make();
    return this.made;
  }

  private writer(at: Level): pino.LogFn {
    return ((...args: Parameters<pino.LogFn>) => {
      if (LEVELS[at] >= threshold) this.instance()[at](...args);
    }) as pino.LogFn;
  }
}

export type { Logger };

export const log = new Logger(createPino);
