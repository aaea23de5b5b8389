// What the terminal panel knows about its lab connection, and the sentence it shows for each
// state. Kept apart from the socket code so every close path can be tested without a browser.

import { CloseCode, closeReason, type ServerMessage } from "../../common/protocol";

export type SessionReady = Extract<ServerMessage, { type: "session.ready" }>;
export type SessionExit = Extract<ServerMessage, { type: "session.exit" }>;
export type LabError = Extract<ServerMessage, { type: "error" }>;

export type LabState =
  /** The terminal code is still loading; nothing has been sent yet. */
  | { phase: "loading" }
  | { phase: "connecting" }
  | {
      phase: "ready";
      session: SessionReady;
      /** Whether this page types into the sandbox or only watches it (another tab took over). */
      role: "owner" | "watcher";
      /** An error frame that did not end the session, or why this page only watches. */
      notice: string | null;
    }
  /** The connection dropped; the page is trying to get back to the same sandbox. */
  | { phase: "reconnecting"; session: SessionReady; attempt: number }
  | {
      phase: "closed";
      closeCode: number;
      reason: string;
      detail: string | null;
      /** What the panel's button offers: a fresh sandbox after it ended, otherwise a new connection. */
      offer: "restart" | "reconnect";
    }
  /** The terminal itself could not start (its code failed to load). */
  | { phase: "broken"; reason: string };

/** WebSocket's own code for a connection that dropped or never opened (RFC 6455 §7.4.1). */
export const ABNORMAL_CLOSURE = 1006;

export const UNREACHABLE_REASON =
  "The lab is unreachable right now. The lesson stays readable; reconnect when the lab is back.";

const SIGNAL_NAMES: Readonly<Record<number, string>> = { 1: "SIGHUP", 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM" };

function isCloseCode(code: number): code is CloseCode {
  return Object.hasOwn(closeReason, code);
}

/** The state after the socket closed with `closeCode`, given what the server said before. */
export function closedState(closeCode: number, lastError: LabError | null, exit: SessionExit | null): LabState & { phase: "closed" } {
  const reason = isCloseCode(closeCode)
    ? closeReason[closeCode]
    : closeCode === ABNORMAL_CLOSURE
      ? UNREACHABLE_REASON
      : `The connection to the lab closed unexpectedly (code ${closeCode}).`;
  const details = [exit ? describeExit(exit) : null, lastError && lastError.message !== reason ? lastError.message : null];
  const detail = details.filter((part): part is string => part !== null).join(" ") || null;
  const offer = closeCode === CloseCode.SessionEnded || closeCode === CloseCode.SessionGone || closeCode === CloseCode.Normal ? "restart" : "reconnect";
  return { phase: "closed", closeCode, reason, detail, offer };
}

export function describeExit(exit: SessionExit): string {
  if (exit.signal !== null) {
    const name = SIGNAL_NAMES[exit.signal];
    return `The shell was killed by signal ${exit.signal}${name ? ` (${name})` : ""}.`;
  }
  if (exit.exitCode !== null) return `The shell exited with status ${exit.exitCode}.`;
  return "The shell exited.";
}

/** Close codes after which the page tries to get back to the same sandbox on its own: the
 *  connection broke (network, a proxy, a server that let a slow page go: a watcher that fell
 *  behind, a page that stopped reading while its tab was frozen), the sandbox did not. */
export const RECONNECTABLE_CLOSE_CODES: ReadonlySet<number> = new Set([1001, 1005, ABNORMAL_CLOSURE, 1011, 1012, 1013, CloseCode.FellBehind, CloseCode.StoppedReading]);

/** Milliseconds before reconnect attempt `attempt` (1-based): quick at first, then every 10 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
}

/** The status line's text. It always contains the state's word: "connecting", "ready", "watching", "reconnecting", or the close reason. */
export function statusText(state: LabState): string {
  switch (state.phase) {
    case "loading":
      return "Loading the terminal…";
    case "connecting":
      return "connecting to the lab…";
    case "ready":
      if (state.role === "watcher") return state.notice ? `watching. ${state.notice}` : "watching";
      return state.notice ? `ready. ${state.notice}` : "ready";
    case "reconnecting":
      return state.attempt > 1
        ? `reconnecting… (attempt ${state.attempt}) Your sandbox is still running.`
        : "reconnecting… Your sandbox is still running.";
    case "closed":
      return state.detail ? `${state.reason} ${state.detail}` : state.reason;
    case "broken":
      return state.reason;
  }
}
