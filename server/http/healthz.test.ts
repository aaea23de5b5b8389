// GET /healthz as a stranger and as the operator see it, on a real HTTP server (no sandboxes
// behind it: the answer's shape does not need them).
import type http from "node:http";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { HostFeatures } from "../kernel/features";
import { type LabCluster, createLabServer } from "./lab-server";
import { healthAccess, tokenMatches } from "./operator-token";

const TOKEN = "healthz-test-operator-token-0123456789";

const FEATURES: HostFeatures = {
  ok: true,
  kernel: "6.1.0-test",
  cgroupVersion: 2,
  checks: [{ name: "user namespaces", ok: true, detail: "" }],
};

function notFound(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(404);
  res.end();
}

/** The database a cluster's /healthz reads: the nodes it has, or an error while it is away. */
const database = { away: false };
const CLUSTER: LabCluster = {
  nodeId: "node-a",
  secret: "a-node-secret-of-16-chars",
  route: () => Promise.resolve(null),
  health: () => (database.away ? Promise.reject(new Error("connection refused")) : Promise.resolve([{ id: "node-a", gone: false }, { id: "node-b", gone: false }])),
};

async function startLab(options: { operatorToken: string | null; cluster: LabCluster | null }) {
  const lab = createLabServer({
    registry: null,
    unsupportedReason: "This test server has no sandboxes.",
    features: FEATURES,
    handleRequest: notFound,
    allowedOrigins: [],
    dev: false,
    cluster: options.cluster,
    operatorToken: options.operatorToken,
  });
  const port = await lab.listen(0, "127.0.0.1");
  return { lab, base: `http://127.0.0.1:${port}` };
}

async function healthz(base: string, query = "", authorization?: string) {
  const res = await fetch(`${base}/healthz${query}`, authorization === undefined ? {} : { headers: { authorization } });
  return { status: res.status, authenticate: res.headers.get("www-authenticate"), body: (await res.json()) as Record<string, unknown> };
}

describe("GET /healthz", () => {
  let withToken: Awaited<ReturnType<typeof startLab>>;
  let clustered: Awaited<ReturnType<typeof startLab>>;
  let tokenless: Awaited<ReturnType<typeof startLab>>;

  beforeAll(async () => {
    [withToken, clustered, tokenless] = await Promise.all([
      startLab({ operatorToken: TOKEN, cluster: null }),
      startLab({ operatorToken: TOKEN, cluster: CLUSTER }),
      startLab({ operatorToken: null, cluster: null }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([withToken, clustered, tokenless].map((started) => started?.lab.close()));
  });

  it("tells a caller without a token whether the node is ready and its sessions, not the kernel or its features", async () => {
    for (const { base } of [withToken, tokenless]) {
      const { status, body } = await healthz(base);
      expect(status).toBe(200);
      expect(Object.keys(body).sort()).toEqual(["ready", "sessions"]);
      expect(body.ready).toBe(false);
      expect(body.sessions).toMatchObject({ live: 0, attached: 0, detached: 0 });
    }
  });

  it("shows the operator's token everything: the kernel, cgroup version, features, readings and starts", async () => {
    const { status, body } = await healthz(withToken.base, "", `Bearer ${TOKEN}`);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["cgroupVersion", "features", "kernel", "readings", "ready", "sessions", "starts"]);
    expect(body).toMatchObject({ kernel: "6.1.0-test", cgroupVersion: 2, features: { "user namespaces": true } });
  });

  it("answers a wrong token 401 with a JSON error and WWW-Authenticate: Bearer", async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer  ${TOKEN} x`, "Bearer"]) {
      const { status, authenticate, body } = await healthz(withToken.base, "", authorization);
      expect(status, authorization).toBe(401);
      expect(authenticate).toBe("Bearer");
      expect(body).toEqual({ error: expect.stringContaining("Wrong operator token") });
    }
  });

  it("answers any token 401 on a server without one, saying NSLAB_OPERATOR_TOKEN is not set", async () => {
    const { status, authenticate, body } = await healthz(tokenless.base, "", `Bearer ${TOKEN}`);
    expect(status).toBe(401);
    expect(authenticate).toBe("Bearer");
    expect(body.error).toMatch(/set NSLAB_OPERATOR_TOKEN/);
  });

  it("tells a stranger only this node's readiness of the cluster, the operator its nodes; ?scope=process leaves the cluster out", async () => {
    const anonymous = await healthz(clustered.base);
    expect(Object.keys(anonymous.body).sort()).toEqual(["cluster", "ready", "sessions"]);
    expect(anonymous.body.cluster).toEqual({ ready: true });
    const operator = await healthz(clustered.base, "", `Bearer ${TOKEN}`);
    expect(operator.body.cluster).toEqual({ node: "node-a", nodes: [{ id: "node-a", gone: false }, { id: "node-b", gone: false }] });
    for (const authorization of [undefined, `Bearer ${TOKEN}`]) {
      const processOnly = await healthz(clustered.base, "?scope=process", authorization);
      expect(processOnly.status).toBe(200);
      expect(processOnly.body).not.toHaveProperty("cluster");
    }
  });

  it("answers 503 while the database is away, to a stranger with the cluster's readiness alone", async () => {
    database.away = true;
    try {
      const anonymous = await healthz(clustered.base);
      expect(anonymous.status).toBe(503);
      expect(anonymous.body).toMatchObject({ ready: false, cluster: { ready: false } });
      expect(Object.keys(anonymous.body.cluster as object)).toEqual(["ready"]);
      const operator = await healthz(clustered.base, "", `Bearer ${TOKEN}`);
      expect(operator.status).toBe(503);
      expect(operator.body.cluster).toEqual({ node: "node-a", error: "the database cannot be read" });
      expect((await healthz(clustered.base, "?scope=process")).status).toBe(200);
    } finally {
      database.away = false;
    }
  });
});

describe("tokenMatches", () => {
  it("matches the same token only: not a prefix, a longer one, another case or an empty one", () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(tokenMatches(TOKEN, `${TOKEN}0`)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN.toUpperCase())).toBe(false);
    expect(tokenMatches(TOKEN, "")).toBe(false);
  });
});

describe("healthAccess", () => {
  it("is anonymous without a header, the operator's with the Bearer token, refused otherwise", () => {
    expect(healthAccess(undefined, TOKEN)).toEqual({ kind: "anonymous" });
    expect(healthAccess(undefined, null)).toEqual({ kind: "anonymous" });
    expect(healthAccess(`Bearer ${TOKEN}`, TOKEN)).toEqual({ kind: "operator" });
    expect(healthAccess(`bearer ${TOKEN}`, TOKEN)).toEqual({ kind: "operator" });
    // Another scheme is a proxy's login, not an attempt at the operator's token.
    expect(healthAccess("", TOKEN)).toEqual({ kind: "anonymous" });
    expect(healthAccess(`Basic ${TOKEN}`, TOKEN)).toEqual({ kind: "anonymous" });
    expect(healthAccess("Basic dXNlcjpwYXNz", null)).toEqual({ kind: "anonymous" });
    expect(healthAccess(`Bearer`, TOKEN).kind).toBe("refused");
    expect(healthAccess(`Bearer ${TOKEN}x`, TOKEN).kind).toBe("refused");
    expect(healthAccess(`Bearer ${TOKEN}`, null)).toEqual({ kind: "refused", error: expect.stringContaining("NSLAB_OPERATOR_TOKEN") });
  });
});
