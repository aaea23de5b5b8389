// The banner over the terminal when the lab is about to end the sandbox on its own: idle for
// too long (typing keeps it), or at the end of its lifetime (nothing keeps it; save your work).
// The server says how many seconds are left once; the page counts down from that itself.

import type { ServerMessage } from "../../common/protocol";

type SessionExpiring = Extract<ServerMessage, { type: "session.expiring" }>;

/** A warning in force: why, the timeout it is about, and when the sandbox ends by this page's clock. */
export interface ExpiryNotice {
  reason: SessionExpiring["reason"];
  limitS: number;
  endsAtMs: number;
}

/** The notice a session.expiring message makes, received at `nowMs`; null when it takes one back. */
export function expiryNotice(message: SessionExpiring, nowMs: number): ExpiryNotice | null {
  if (message.inSeconds === null) return null;
  return { reason: message.reason, limitS: message.limitS, endsAtMs: nowMs + message.inSeconds * 1000 };
}

/** "4-hour", "30-minute", "90-second": a limit as an adjective. */
function limitAdjective(seconds: number): string {
  if (seconds >= 7200 && seconds % 3600 === 0) return `${seconds / 3600}-hour`;
  if (seconds >= 120 && seconds % 60 === 0) return `${seconds / 60}-minute`;
  return `${seconds}-second`;
}

/** The banner's sentence at `nowMs`. */
export function expiryBannerText(notice: ExpiryNotice, nowMs: number): string {
  const left = Math.max(0, Math.ceil((notice.endsAtMs - nowMs) / 1000));
  const when = left > 0 ? `ends in ${left} s` : "is ending now";
  return notice.reason === "idle"
    ? `Your sandbox ${when} because it has been idle: type anything to keep it.`
    : `Your sandbox ${when}: it reached its ${limitAdjective(notice.limitS)} limit; save your work.`;
}
