// Who asks /healthz and /metrics: anyone, or the operator with NSLAB_OPERATOR_TOKEN. Behind a reverse proxy
// every request comes from the proxy's address, so where a request comes from proves nothing;
// only the token does.
import { createHash, timingSafeEqual } from "node:crypto";

/** Whether `presented` is `expected`, in a time that depends on neither: both are hashed first,
 *  so that a wrong token's length tells nothing either. */
export function tokenMatches(expected: string, presented: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();
  return timingSafeEqual(digest(expected), digest(presented));
}

/** The token of an `Authorization: Bearer TOKEN` header, or undefined. */
function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(authorization ?? "")?.[1];
}

export type HealthAccess = { kind: "anonymous" } | { kind: "operator" } | { kind: "refused"; error: string };

/** The access an Authorization header gives: none, or one of another scheme, is anonymous (a
 *  reverse proxy's Basic login reaches the lab too, on every request its browsers make,
 *  learners' pages asking whether the lab is back among them); a Bearer token is the
 *  operator's if it matches `token`, refused otherwise (and refused when no token is set, so
 *  that a client that believes it has one is told, not shown the anonymous answer). */
export function healthAccess(authorization: string | undefined, token: string | null): HealthAccess {
  if (authorization === undefined || !/^bearer(\s|$)/i.test(authorization)) return { kind: "anonymous" };
  if (token === null) return { kind: "refused", error: "This server has no operator token: set NSLAB_OPERATOR_TOKEN to see /healthz in full, or send no Authorization header." };
  const presented = bearerToken(authorization);
  if (presented === undefined || !tokenMatches(token, presented)) {
    return { kind: "refused", error: "Wrong operator token: send Authorization: Bearer NSLAB_OPERATOR_TOKEN, or no Authorization header for the short answer." };
  }
  return { kind: "operator" };
}

/** /metrics is the operator's alone (its series tell how busy the lab is, and what fails): the
 *  token, or a refusal that says how to get in. */
export function metricsAccess(authorization: string | undefined, token: string | null): { ok: true } | { ok: false; status: 401 | 403; error: string } {
  if (token === null) {
    return { ok: false, status: 403, error: "This server has no operator token, so /metrics is closed: set NSLAB_OPERATOR_TOKEN (24 characters or more) and have the scraper send it as Authorization: Bearer." };
  }
  const presented = bearerToken(authorization);
  if (presented === undefined) return { ok: false, status: 401, error: "/metrics needs the operator's token: send Authorization: Bearer NSLAB_OPERATOR_TOKEN." };
  if (!tokenMatches(token, presented)) return { ok: false, status: 401, error: "Wrong operator token: send Authorization: Bearer NSLAB_OPERATOR_TOKEN." };
  return { ok: true };
}
