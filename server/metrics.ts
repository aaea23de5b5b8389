// What the server counts for its operator, as Prometheus reads it at GET /metrics (with the
// operator's token). One registry per process, as prom-client's own examples keep it: the
// counters are bumped where things happen (a session ends, an error frame goes out, the store
// fails), never by a loop of their own; the gauges are read when /metrics is asked.
//
// Every label takes a value from a fixed set (a code of the protocol, a kind of end, a step of
// the launcher, a method of the store): never a session id or a sentence, so that no learner
// can grow the series.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export const metrics = new Registry();
// The process's own: CPU, memory, heap, event-loop lag, handles, GC. Under their usual names,
// so that the dashboards made for any Node service read them.
collectDefaultMetrics({ register: metrics });

/** Why a session ended, as a label: the sentence the learner is shown says the rest. */
export type EndCause =
  | "shell_exited"
  | "resource_limit"
  | "page_left"
  | "grace_expired"
  | "never_attached"
  | "idle"
  | "lifetime"
  | "replaced"
  | "instructor"
  | "class_closed"
  | "shutdown";

export const sessionsLive = new Gauge({
  name: "nslab_sessions_live",
  help: "Sessions whose sandbox is running or starting on this node.",
  registers: [metrics],
});

export const sessionsStarted = new Counter({
  name: "nslab_sessions_started_total",
  help: "Sessions whose sandbox started.",
  registers: [metrics],
});

export const sessionsEnded = new Counter({
  name: "nslab_sessions_ended_total",
  help: "Sessions ended, by why.",
  labelNames: ["reason"] as const,
  registers: [metrics],
});

export const sandboxStartSeconds = new Histogram({
  name: "nslab_sandbox_start_seconds",
  help: "A sandbox's start-up, by the launcher's step (each step's own duration; step=\"total\": from the launcher's start to the shell).",
  labelNames: ["step"] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metrics],
});

export const oomKills = new Counter({
  name: "nslab_oom_kills_total",
  help: "Processes the kernel's OOM killer killed inside sandboxes (their memory limit).",
  registers: [metrics],
});

export const pidsLimitHits = new Counter({
  name: "nslab_pids_limit_hits_total",
  help: "Forks refused inside sandboxes because their pids limit was reached.",
  registers: [metrics],
});

export const probeRoundSeconds = new Histogram({
  name: "nslab_probe_round_seconds",
  help: "One round of kernel readings on the event loop (every session that was due).",
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.05],
  registers: [metrics],
});

export const probeStretch = new Gauge({
  name: "nslab_probe_stretch",
  help: "How far every session's readings are slowed to keep them within their share of a core (1: not at all).",
  registers: [metrics],
});

export const wsErrors = new Counter({
  name: "nslab_ws_errors_total",
  help: "Error frames the lab's WebSocket sent pages (counted also when coalesced), by code.",
  labelNames: ["code"] as const,
  registers: [metrics],
});

export const wsRateLimited = new Counter({
  name: "nslab_ws_rate_limited_total",
  help: "Frames from pages refused by a budget: ping, request (control messages), input (keystrokes), shell (its input queue was full).",
  labelNames: ["budget"] as const,
  registers: [metrics],
});

export const storeErrors = new Counter({
  name: "nslab_store_errors_total",
  help: "Calls to the progress store (SQLite or PostgreSQL) that failed, by method.",
  labelNames: ["operation"] as const,
  registers: [metrics],
});

/** The text /metrics answers with, and its content type. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: metrics.contentType, body: await metrics.metrics() };
}
