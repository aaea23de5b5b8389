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
  | { phase: "ready"; session: SessionReady; /** An error frame that did not end the session. */ notice: string | null }
  | {
      phase: "closed";
      closeCode: number;
      reason: string;
      detail: string | null;
      /** What the panel's button offers: a fresh shell after a normal end, otherwise a new connection. */
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
  const offer = closeCode === CloseCode.SessionEnded || closeCode === CloseCode.Normal ? "restart" : "reconnect";
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

/** The status line's text. It always contains the state's word: "connecting", "ready", or the close reason. */
export function statusText(state: LabState): string {
  switch (state.phase) {
    case "loading":
      return "Loading the terminal…";
    case "connecting":
      return "connecting to the lab…";
    case "ready":
      return state.notice ? `ready. ${state.notice}` : "ready";
    case "closed":
      return state.detail ? `${state.reason} ${state.detail}` : state.reason;
    case "broken":
      return state.reason;
  }
}
