// The lab protocol between the browser and the server over one WebSocket at /ws.
//
// Terminal bytes travel as binary frames in both directions (keystrokes up, pty output down).
// Everything else is a JSON text frame matching one of the schemas below, parsed on arrival by
// both ends; a frame that does not parse gets an `error` frame, or a close with a code from
// CloseCode when the connection cannot continue.
//
// This module is shared by the browser and the server: no DOM, no Node.

import { z } from "zod";

import { Broadcast, ClassId, MemberId } from "./classroom";
import { SnapshotDelta } from "./lab-state";
import { LaunchStep } from "./launch-events";
import { Limits } from "./limits";
import { TERMINAL_LIMITS } from "./protocol-bounds";

export { LaunchStep } from "./launch-events";

export const PROTOCOL_VERSION = 1;
export const WS_PATH = "/ws";

export { INPUT_BYTES_PER_SECOND, INPUT_FRAME_BYTES, MAX_FRAME_BYTES, TERMINAL_LIMITS } from "./protocol-bounds";

/** WebSocket close codes (4000-4999 are for applications, RFC 6455 §7.4.2). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** A frame that is not valid for this protocol and cannot be answered with an error frame. */
  ProtocolError: 1002,
  MessageTooBig: 1009,
  /** The sandbox's shell exited; the session is over. */
  SessionEnded: 4000,
  /** No room for another sandbox on this server right now. */
  LabFull: 4001,
  /** This host cannot create sandboxes (no user namespaces, cgroups, or overlayfs). */
  KernelUnsupported: 4002,
  /** The sandbox could not be started (the reason is in the preceding error frame). */
  SandboxFailed: 4003,
  /** Too many bad frames from this client. */
  TooManyErrors: 4004,
  /** The page came from another origin. */
  OriginRejected: 4005,
  /** The server is shutting down. */
  ServerShutdown: 4006,
  /** The sandbox was ended (nobody reconnected in time, or the lab ended it); the preceding
   *  error frame says why. */
  SessionGone: 4007,
  /** A watching page fell too far behind the sandbox's output and was let go. */
  FellBehind: 4008,
  /** Another page took the sandbox over, and there was no room for this one to watch. */
  TakenOver: 4009,
  /** The instructor gave the learner a fresh sandbox: the page starts the new one at once. */
  Reset: 4010,
  /** The page stopped reading what the server sent, and its connection's send buffer passed
   *  its bound (MAX_SEND_BUFFER_BYTES in server/ws/lab-connection.ts). */
  StoppedReading: 4011,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What a learner is told for each close code; the terminal panel shows this sentence. */
export const closeReason: Record<CloseCode, string> = {
  [CloseCode.Normal]: "The session ended.",
  [CloseCode.GoingAway]: "The lab server went away.",
  [CloseCode.ProtocolError]: "The lab could not understand this page. Reload it.",
  [CloseCode.MessageTooBig]: "A message was too large for the lab. Reload the page.",
  [CloseCode.SessionEnded]: "Your shell exited. Start a new one to continue.",
  [CloseCode.LabFull]: "The lab is full right now. The lesson stays readable; try again in a minute.",
  [CloseCode.KernelUnsupported]: "This server's kernel cannot create sandboxes, so the lab is off. The lesson stays readable.",
  [CloseCode.SandboxFailed]: "Your sandbox could not be started. Try again; if it keeps failing, tell the lab's operator.",
  [CloseCode.TooManyErrors]: "The lab closed the connection after too many bad messages. Reload the page.",
  [CloseCode.OriginRejected]: "This page is not allowed to use the lab. Open the lesson from the lab's own address.",
  [CloseCode.ServerShutdown]: "The lab server is restarting; your progress is kept. Reconnect in a moment for a fresh sandbox.",
  [CloseCode.SessionGone]: "Your sandbox was ended. Start a new one to continue.",
  [CloseCode.FellBehind]: "This view fell too far behind the sandbox's output and was closed. Reconnect to watch again.",
  [CloseCode.TakenOver]: "This sandbox is now used in another tab. Reconnect here to use it in this one.",
  [CloseCode.Reset]: "Your instructor gave you a fresh sandbox. Your progress is kept.",
  [CloseCode.StoppedReading]: "This page stopped taking in what the lab sent (a frozen tab, a slow network), so the lab closed its connection. Reload the page to continue.",
};

/** Error codes carried by `error` frames. */
export const ErrorCode = z.enum([
  "bad_json",
  "bad_message",
  "unknown_type",
  "bad_resize",
  "not_ready",
  "rate_limited",
  "sandbox_failed",
  "lab_full",
  "kernel_unsupported",
  "bad_limit",
  "not_your_session",
  /** nslab ended the sandbox because it went past a bound (too many cgroups). */
  "resource_limit",
  /** session.resume or session.watch named a sandbox this page may not attach to (made-up or
   *  mistyped token, another learner's cookie). Deliberately one code for all of them. */
  "resume_refused",
  /** The sandbox a page asked to resume or watch has ended; the message says why. */
  "session_gone",
  /** Input, resize or limits from a page that only watches. */
  "read_only",
  /** session.watch for a sandbox that already has as many watching pages as it takes. */
  "too_many_watchers",
  /** session.observe from a page that is not the instructor's, or for a learner with no live
   *  sandbox in that class. */
  "observe_refused",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const TerminalSize = z.object({
  cols: z.number().int().min(TERMINAL_LIMITS.minCols).max(TERMINAL_LIMITS.maxCols),
  rows: z.number().int().min(TERMINAL_LIMITS.minRows).max(TERMINAL_LIMITS.maxRows),
});
export type TerminalSize = z.infer<typeof TerminalSize>;

/** Names a request whose answer must find its way back (limits.update): echoed in the
 *  limits.updated or error frame that answers it. */
export const RequestId = z.string().regex(/^[A-Za-z0-9_-]{1,36}$/);

/** A lab session's id: 16 hex digits, also the name of its cgroup. */
export const SessionId = z.string().regex(/^[0-9a-f]{16}$/);

/** The secret a page keeps to come back to its sandbox (32 random bytes, base64url). It only
 *  works together with the learner cookie the session was started with. */
export const ResumeToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/** Who a page is to its session: the owner types; a watcher only sees. */
export const AttachRole = z.enum(["owner", "watcher"]);
export type AttachRole = z.infer<typeof AttachRole>;

// ---------------------------------------------------------------------------------------------
// Browser -> server

export const ClientMessage = z.discriminatedUnion("type", [
  /** First frame: who we are and how big the terminal is. */
  z.object({
    type: z.literal("session.start"),
    version: z.literal(PROTOCOL_VERSION),
    lesson: z.string().regex(/^[a-z0-9-]{1,64}$/).optional(),
    size: TerminalSize,
  }),
  /** First frame instead of session.start: come back to a live sandbox as its owner (a reload,
   *  a dropped connection, another tab). The newest page takes over; the one before is told
   *  and keeps watching. */
  z.object({
    type: z.literal("session.resume"),
    version: z.literal(PROTOCOL_VERSION),
    sessionId: SessionId,
    token: ResumeToken,
    size: TerminalSize,
  }),
  /** First frame instead of session.start: see a live sandbox without typing into it. */
  z.object({
    type: z.literal("session.watch"),
    version: z.literal(PROTOCOL_VERSION),
    sessionId: SessionId,
    token: ResumeToken,
  }),
  /** First frame of the instructor's page: watch a class member's live sandbox. Only with the
   *  instructor's cookie; read-only, like session.watch. */
  z.object({
    type: z.literal("session.observe"),
    version: z.literal(PROTOCOL_VERSION),
    classId: ClassId,
    memberId: MemberId,
  }),
  z.object({ type: z.literal("pty.resize"), size: TerminalSize }),
  /** Flow control: the browser has rendered this many bytes of pty output. */
  z.object({ type: z.literal("pty.ack"), bytes: z.number().int().min(0).max(1 << 30) }),
  z.object({ type: z.literal("ping"), at: z.number() }),
  /** Start (true) or stop (false) the stream of kernel state for this session. */
  z.object({ type: z.literal("state.watch"), watch: z.boolean() }),
  /** Change the running sandbox's limits, as `docker update` would. Only the fields given change. */
  z.object({
    type: z.literal("limits.update"),
    requestId: RequestId,
    sessionId: SessionId,
    limits: z.object(Limits.shape).partial().refine((l) => Object.keys(l).length > 0, "give at least one limit"),
  }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// ---------------------------------------------------------------------------------------------
// Server -> browser

/** One limit as it went to the kernel: the docker flag, the cgroup file (relative to the
 *  session's cgroup: "memory/memory.limit_in_bytes" on v1, "memory.max" on v2) and the value. */
export const CgroupFileWrite = z.object({
  flag: z.enum(["--memory", "--memory-swap", "--cpus", "--pids-limit"]),
  file: z.string(),
  value: z.string(),
});
export type CgroupFileWrite = z.infer<typeof CgroupFileWrite>;

/** A lab step of a lesson and whether the learner has done it. */
export const StepProgress = z.object({
  id: z.string(),
  done: z.boolean(),
  /** When the check first held, in milliseconds since the epoch. */
  completedAtMs: z.number().nullable(),
});
export type StepProgress = z.infer<typeof StepProgress>;

/** Why the lab ends a sandbox on its own: nobody used it for a while, or it lived its time. */
export const SessionExpiryReason = z.enum(["idle", "lifetime"]);
export type SessionExpiryReason = z.infer<typeof SessionExpiryReason>;

export const ServerMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("session.ready"),
    version: z.literal(PROTOCOL_VERSION),
    sessionId: z.string(),
    hostname: z.string(),
    /** The sandbox's pid 1 as the host sees it. */
    hostPid: z.number().int(),
    cgroupVersion: z.union([z.literal(1), z.literal(2)]),
    limits: Limits,
    /** Where each limit lives on this host, and the value written. */
    cgroupFiles: z.array(CgroupFileWrite),
    /** What the host has: the upper bounds for the limits panel. */
    host: z.object({ cpus: z.number().positive(), memoryBytes: z.number().int().positive(), kernelRelease: z.string() }),
    startup: z.array(LaunchStep),
    /** Whether this page types (owner) or only sees (watcher). */
    role: AttachRole,
    /** For the owner: what to send in session.resume to come back after a reload. */
    resumeToken: ResumeToken.optional(),
    /** True when the sandbox was already running (a reload, a reconnect, a watcher). */
    resumed: z.boolean(),
    /** The terminal's size in the sandbox: a watcher draws at this size. */
    size: TerminalSize,
    /** The next this-many bytes of terminal output redraw the screen and scrollback as the
     *  server's copy of the terminal has them; the live output follows. */
    replayBytes: z.number().int().min(0),
    /** How long the sandbox waits for its owner after the connection drops (0: not at all). */
    reconnectGraceS: z.number().int().min(0),
    /** The class the sandbox belongs to, when its learner joined one. */
    classroom: z.object({ classId: ClassId, className: z.string(), displayName: z.string() }).optional(),
  }),
  /** This page's role changed: another tab of the same learner took the sandbox over. */
  z.object({ type: z.literal("session.role"), role: AttachRole, reason: z.string() }),
  /** The owner resized the terminal (sent to watchers, who draw at the sandbox's size). */
  z.object({ type: z.literal("pty.size"), size: TerminalSize }),
  /** Kernel state, while the page watches: first a full snapshot, then only what changed. */
  z.object({ type: z.literal("state.delta"), delta: SnapshotDelta }),
  /** The limits after a limits.update, with the files written. */
  z.object({ type: z.literal("limits.updated"), requestId: RequestId, limits: Limits, cgroupFiles: z.array(CgroupFileWrite) }),
  /** The instructor changed this sandbox's limits (the learner's page shows the new ones). */
  z.object({ type: z.literal("limits.changed"), limits: Limits, cgroupFiles: z.array(CgroupFileWrite), reason: z.string() }),
  /** The instructor's message to the class; also sent on attaching, the latest one. */
  z.object({ type: z.literal("class.broadcast"), broadcast: Broadcast }),
  /** The learner's progress through the lesson's lab steps, checked against kernel state. */
  z.object({ type: z.literal("progress"), lesson: z.string(), steps: z.array(StepProgress) }),
  /** The sandbox will be ended in `inSeconds` for having been idle `limitS` seconds, or for
   *  reaching its lifetime of `limitS` seconds; sent a minute before (and on attaching while
   *  it holds). `inSeconds: null`: the owner's typing cleared an idle warning. */
  z.object({
    type: z.literal("session.expiring"),
    reason: SessionExpiryReason,
    inSeconds: z.number().int().min(0).nullable(),
    limitS: z.number().int().positive(),
  }),
  z.object({
    type: z.literal("session.exit"),
    exitCode: z.number().int().nullable(),
    signal: z.number().int().nullable(),
  }),
  z.object({
    type: z.literal("error"),
    code: ErrorCode,
    message: z.string(),
    /** For bad_limit: the limit at fault (memoryBytes, memorySwapBytes, cpus, pids). */
    field: z.string().optional(),
    /** The request this error answers, when it answers one. */
    requestId: RequestId.optional(),
  }),
  z.object({ type: z.literal("pong"), at: z.number() }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

export type ParseResult<T> =
  | { ok: true; message: T }
  /** requestId: the frame's own, when it carried a well-formed one, so the error can answer it. */
  | { ok: false; code: ErrorCode; message: string; requestId?: string };

function parseWith<T>(schema: z.ZodType<T>, text: string): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: "bad_json", message: "The message is not valid JSON." };
  }
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  const type = typeof value === "object" && value !== null ? (value as { type?: unknown }).type : undefined;
  const issue = result.error.issues[0];
  if (issue?.code === "invalid_union" && issue.path.length === 1 && issue.path[0] === "type") {
    return { ok: false, code: "unknown_type", message: `Unknown message type ${JSON.stringify(type)}.` };
  }
  const where = issue ? issue.path.join(".") || "message" : "message";
  const code: ErrorCode = type === "pty.resize" || type === "session.start" ? sizeCode(issue) : "bad_message";
  const failure = { ok: false as const, code, message: `Invalid ${String(type ?? "message")}: ${where}: ${issue?.message ?? "invalid"}.` };
  // Any JSON value can arrive here (null, a number, an array): look for an id only in objects.
  const requestId = typeof value === "object" && value !== null ? RequestId.safeParse((value as { requestId?: unknown }).requestId) : null;
  return requestId?.success ? { ...failure, requestId: requestId.data } : failure;
}

function sizeCode(issue: z.core.$ZodIssue | undefined): ErrorCode {
  return issue && issue.path.includes("size") ? "bad_resize" : "bad_message";
}

export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(ClientMessage, text);
}

export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(ServerMessage, text);
}
