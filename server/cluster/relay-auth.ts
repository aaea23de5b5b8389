// How one node tells another that a WebSocket it passes on is a learner's or an instructor's,
// and from which address: a header signed with the nodes' shared secret (NSLAB_NODE_SECRET).
// The owning node trusts only what the signature covers. The page's own cookies travel as the
// browser sent them, and each node checks them against the shared store as it would its own.
import { createHmac, timingSafeEqual } from "node:crypto";

export const RELAY_HEADER = "x-nslab-relay";

/** A signature older than this is refused: a captured header cannot be replayed later. */
export const RELAY_MAX_AGE_MS = 30_000;

export interface RelayClaims {
  /** The node that passed the connection on. */
  from: string;
  /** The node it was passed to: a header seen on its way to one node is no use at another. */
  to: string;
  /** The client's address, as the relaying node saw it (logs and per-address limits). */
  remote: string;
  atMs: number;
}

function mac(secret: string, payload: string): Buffer {
  return createHmac("sha256", secret).update(payload).digest();
}

export function signRelay(secret: string, claims: RelayClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${payload}.${mac(secret, payload).toString("base64url")}`;
}

/** The claims of a header signed with `secret` for node `me` within RELAY_MAX_AGE_MS of
 *  `nowMs`, or why not. */
export function verifyRelay(secret: string, me: string, header: string, nowMs: number): { ok: true; claims: RelayClaims } | { ok: false; reason: string } {
  const [payload, signature, extra] = header.split(".");
  if (!payload || !signature || extra !== undefined) return { ok: false, reason: "malformed relay header" };
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad relay signature (is NSLAB_NODE_SECRET the same on every node?)" };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed relay claims" };
  }
  const c = claims as Partial<RelayClaims>;
  if (typeof c.from !== "string" || typeof c.to !== "string" || typeof c.remote !== "string" || typeof c.atMs !== "number") return { ok: false, reason: "malformed relay claims" };
  if (c.to !== me) return { ok: false, reason: `relay header meant for node ${c.to}, not this one` };
  if (Math.abs(nowMs - c.atMs) > RELAY_MAX_AGE_MS) return { ok: false, reason: "relay header expired (are the nodes' clocks in step?)" };
  return { ok: true, claims: { from: c.from, to: c.to, remote: c.remote, atMs: c.atMs } };
}
