// Where a page keeps what it needs to come back to its sandbox after a reload: the session id
// and the resume token of session.ready, one entry per lesson, in localStorage — shared by the
// learner's tabs, so a second tab of the same lesson finds the sandbox and takes it over. The
// token alone is useless: the server also wants the learner's cookie (HttpOnly, not readable
// here). Everything read back is parsed; storage that is unavailable or full only means the
// next reload starts a new sandbox.

import { z } from "zod";

import { ResumeToken, SessionId } from "../../common/protocol";

const Stored = z.object({ sessionId: SessionId, token: ResumeToken });
export type StoredSession = z.infer<typeof Stored>;

function key(lesson: string): string {
  return `nslab.session.${lesson}`;
}

export function loadStoredSession(lesson: string): StoredSession | null {
  try {
    const text = window.localStorage.getItem(key(lesson));
    if (!text) return null;
    const parsed = Stored.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function saveStoredSession(lesson: string, session: StoredSession): void {
  try {
    window.localStorage.setItem(key(lesson), JSON.stringify(session));
  } catch {
    // Private mode or a full quota: a reload will start a new sandbox instead.
  }
}

/** Forget the lesson's sandbox, but only if it is still `sessionId` (another tab may have
 *  stored a newer one meanwhile). */
export function clearStoredSession(lesson: string, sessionId?: string): void {
  try {
    if (sessionId !== undefined && loadStoredSession(lesson)?.sessionId !== sessionId) return;
    window.localStorage.removeItem(key(lesson));
  } catch {
    // nothing stored, nothing to forget
  }
}
