import { describe, expect, it } from "vitest";

import { RELAY_MAX_AGE_MS, signRelay, verifyRelay } from "./relay-auth";

const SECRET = "the nodes' shared secret";
const claims = { from: "node-a", to: "node-b", remote: "203.0.113.7", atMs: 1_700_000_000_000 };

describe("the relay header", () => {
  it("carries the relaying node and the client's address to a node with the same secret", () => {
    expect(verifyRelay(SECRET, "node-b", signRelay(SECRET, claims), claims.atMs + 1_000)).toEqual({ ok: true, claims });
  });

  it("is refused with another secret, with a claim changed, or malformed, saying which", () => {
    expect(verifyRelay("another secret entirely", "node-b", signRelay(SECRET, claims), claims.atMs)).toMatchObject({ ok: false, reason: expect.stringContaining("NSLAB_NODE_SECRET") });
    const [payload, signature] = signRelay(SECRET, claims).split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, remote: "198.51.100.1" })).toString("base64url");
    expect(verifyRelay(SECRET, "node-b", `${forged}.${signature}`, claims.atMs)).toMatchObject({ ok: false, reason: expect.stringContaining("bad relay signature") });
    for (const bad of ["", "x", `${payload}`, `${payload}.${signature}.x`, `${payload}.`]) {
      expect(verifyRelay(SECRET, "node-b", bad, claims.atMs)).toMatchObject({ ok: false });
    }
    const notClaims = Buffer.from("[1,2]").toString("base64url");
    expect(verifyRelay(SECRET, "node-b", signRelay(SECRET, claims).replace(/^[^.]+/, notClaims), claims.atMs)).toMatchObject({ ok: false });
  });

  it("holds only at the node it was made for: one seen on its way to node B is refused by node C", () => {
    expect(verifyRelay(SECRET, "node-c", signRelay(SECRET, claims), claims.atMs)).toMatchObject({ ok: false, reason: expect.stringContaining("meant for node node-b") });
  });

  it("expires: a header captured and replayed later, or from a node whose clock is far off, is refused", () => {
    const header = signRelay(SECRET, claims);
    expect(verifyRelay(SECRET, "node-b", header, claims.atMs + RELAY_MAX_AGE_MS)).toMatchObject({ ok: true });
    expect(verifyRelay(SECRET, "node-b", header, claims.atMs + RELAY_MAX_AGE_MS + 1)).toMatchObject({ ok: false, reason: expect.stringContaining("expired") });
    expect(verifyRelay(SECRET, "node-b", header, claims.atMs - RELAY_MAX_AGE_MS - 1)).toMatchObject({ ok: false, reason: expect.stringContaining("expired") });
  });
});
