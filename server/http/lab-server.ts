// The one HTTP server of nslab: Next's pages, /healthz, /metrics, and the lab's WebSocket at
// /ws, all on one port. Only /ws upgrades are ours; in development Next's hot reload upgrades under
// /_next/ are left to Next; every other upgrade is refused with 404 rather than left hanging.
import { randomBytes } from "node:crypto";
import http from "node:http";
import os from "node:os";
import type { Duplex } from "node:stream";

import { WebSocket, WebSocketServer } from "ws";

import { type ClientMessage, MAX_FRAME_BYTES, WS_PATH } from "../../common/protocol";
import type { NodeRef } from "../cluster/cluster-node";
import { routeConnection } from "../cluster/relay";
import { RELAY_HEADER, verifyRelay } from "../cluster/relay-auth";
import { AttemptLimiter, type InstructorSecret, type InstructorSessions } from "../classroom/instructor-auth";
import type { Classrooms } from "../classroom/classrooms";
import { canonicalOrigin } from "../config";
import type { HostFeatures } from "../kernel/features";
import { sendQueueBytes, socketFd } from "../kernel/socket-queue";
import { log } from "../log";
import { metricsText } from "../metrics";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { hostProbeScheduler } from "../sessions/session-readings";
import type { SessionRegistry } from "../sessions/session-registry";
import { LEARNER_ID_PATTERN, type Store } from "../store/store";
import { LabConnection } from "../ws/lab-connection";
import { createClassesApi } from "./classes-api";
import { NO_TRUSTED_PROXIES, type TrustedProxies, clientAddress } from "./client-address";
import { cookieValue, overHttps } from "./cookies";
import { healthAccess, metricsAccess } from "./operator-token";
import { progressResponse } from "./progress-api";

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface LabServerOptions {
  /** The lab's sessions; null when this host cannot create sandboxes (`unsupportedReason` says why). */
  registry: SessionRegistry | null;
  unsupportedReason: string;
  /** The lessons' lab steps (for GET /api/progress). */
  lessons?: LessonCatalog | null;
  features: HostFeatures;
  /** Pages and assets (Next's request handler); tests pass a plain 404. */
  handleRequest: RequestHandler;
  /** Extra page origins allowed to open /ws and post to the classroom (NSLAB_ALLOWED_ORIGINS). */
  allowedOrigins: string[];
  /** Where learners reach the lab, e.g. https://lab.example.org (NSLAB_PUBLIC_ORIGIN). Empty:
   *  the listening address as a browser on this machine reaches it (http://localhost:PORT,
   *  http://127.0.0.1:PORT, http://[::1]:PORT, and HOST:PORT when bound to one address). */
  publicOrigins?: string[];
  /** How often each WebSocket is pinged, and how long it may go without answering one (tests
   *  shorten both). */
  heartbeat?: { intervalMs: number; timeoutMs: number };
  dev: boolean;
  /** Where learners and their progress are kept; GET /api/progress reads it. */
  store?: Store | null;
  /** The classroom (classes, the instructor's login); without it /teach and /join answer 404. */
  classroom?: LabClassroom | null;
  /** When the lab runs on several nodes: how a page's connection finds the node that serves it. */
  cluster?: LabCluster | null;
  /** Reverse proxies whose X-Forwarded-For names the client (NSLAB_TRUSTED_PROXIES); none by default. */
  trustedProxies?: TrustedProxies;
  /** NSLAB_OPERATOR_TOKEN: a request bearing it is shown /healthz in full. None by default. */
  operatorToken?: string | null;
}

export interface LabCluster {
  nodeId: string;
  /** NSLAB_NODE_SECRET: signs and checks connections the nodes pass to each other. */
  secret: string;
  /** The node that should serve a page's first message, or null for this one. */
  route(message: ClientMessage, page: { learnerId: string; hasCookie: boolean }): Promise<NodeRef | null>;
  /** What /healthz says of the cluster. */
  health(): Promise<unknown>;
}

export interface LabClassroom {
  classrooms: Classrooms;
  secret: InstructorSecret;
  sessions: InstructorSessions;
}

/** Wrong instructor secrets: 10, then one every 12 s, per client address (an IPv6 /64). */
const LOGIN_ATTEMPTS = { burst: 10, refillMs: 12_000 };
/** Joins: a whole class at once (a room behind one NAT address joins together), then 4 a
 *  second. Guessing one of 31^6 codes at that pace is hopeless; the bound is against floods. */
const JOIN_ATTEMPTS = { burst: 250, refillMs: 250 };

/** Every socket is pinged this often, and cut off once no ping of the last TIMEOUT has been
 *  answered: a page that vanished (laptop lid, lost network) or stopped reading is let go
 *  within seconds, not after a minute of buffering for it. A browser answers pings itself,
 *  even in a background tab, so an idle page stays. */
export const HEARTBEAT = { intervalMs: 5_000, timeoutMs: 10_000 } as const;
/** Pings sent in one turn of the event loop: each is a send queue read and a write, some
 *  30 µs on a busy host, so that a keystroke arriving meanwhile waits half a millisecond at most. */
const PINGS_PER_TURN = 16;
/** Pings awaiting their pong, per socket: a pong answers one of these or counts for nothing. */
const PINGS_OUTSTANDING = 4;
/** A page that does not answer the close handshake is cut off after this long (ws waits 30 s). */
const CLOSE_TIMEOUT_MS = 5_000;
/** The TCP socket under a WebSocket (ws keeps it as _socket). */
function underlyingSocket(ws: WebSocket): unknown {
  return (ws as unknown as { _socket?: unknown })._socket;
}

/** The most of a refused Origin or Host that goes to the log. */
const LOGGED_HEADER_CHARS = 200;

/** An anonymous learner is this cookie: an opaque random id, nothing else about them. */
export const LEARNER_COOKIE = "nslab_learner";
const LEARNER_COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** The learner id in the request's cookies, if there is a valid one. */
export function learnerFromCookies(header: string | undefined): string | null {
  return cookieValue(header, LEARNER_COOKIE, LEARNER_ID_PATTERN);
}

/** The request's learner, issuing a new id (and its cookie, Secure when `secure`) to a
 *  first-time visitor. */
function learnerFor(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): string {
  const known = learnerFromCookies(req.headers.cookie);
  if (known) return known;
  const id = randomBytes(16).toString("hex");
  res.appendHeader("set-cookie", `${LEARNER_COOKIE}=${id}; Path=/; Max-Age=${LEARNER_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`);
  return id;
}

/** Sessions for /healthz: how many live, how many with their page attached, how many waiting
 *  for a page to come back, and the lab's capacity. */
function sessionCounts(registry: SessionRegistry | null) {
  const sessions = registry?.all() ?? [];
  return {
    live: sessions.length,
    attached: sessions.filter((s) => s.state === "attached").length,
    detached: sessions.filter((s) => s.state === "detached").length,
    capacity: registry?.capacity ?? 0,
    reconnectGraceS: registry?.graceS ?? 0,
  };
}

/** The request target as a URL, or null for one no URL can be made of (e.g. "http://[/"). */
function parseRequestUrl(target: string | undefined): URL | null {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    return null;
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

/** A Host header as the lab compares it (lower case, no :80), or null for one that is not a
 *  bare host and port. */
function canonicalHost(host: string | undefined): string | null {
  if (!host) return null;
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return null;
  }
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash || /[/?#@\\]/.test(host)) return null;
  return url.host;
}

const WILDCARD_ADDRESSES = new Set(["0.0.0.0", "::", ""]);

/** The page origins the lab serves and the Host names it answers to. A browser's Origin must
 *  be one of the origins: comparing it with the request's own Host would let a DNS-rebinding
 *  page (evil.example, now resolving to this server) in, and another scheme on the same host
 *  and port too. The Host must be one the lab is reached by, even without an Origin: that is
 *  what a rebinding page cannot forge. */
export class WebOrigins {
  private readonly origins = new Set<string>();
  private readonly hosts = new Set<string>();
  /** Every public origin is https: cookies are Secure whatever a request says. */
  readonly httpsOnly: boolean;
  /** The public origins, for the log. */
  readonly publicOrigins: readonly string[];

  /** `listening.addresses`: this machine's own addresses, which a server listening on every
   *  interface is reached by (a classroom on a LAN opens http://192.168.1.10:3000). An address
   *  literal is safe to answer to: a rebinding page has a name of its own, never our address. */
  constructor(publicOrigins: readonly string[], allowedOrigins: readonly string[], listening: { host: string; port: number; addresses?: readonly string[] }) {
    const port = listening.port;
    const bracketed = (address: string) => (address.includes(":") ? `[${address}]` : address);
    const local = ["localhost", "127.0.0.1", "[::1]"];
    const reachedBy = WILDCARD_ADDRESSES.has(listening.host) ? (listening.addresses ?? []) : [listening.host];
    for (const address of reachedBy) {
      // A link-local IPv6 address needs its zone, which no URL carries: not one a page opens.
      if (address.includes("%") || /^fe80:/i.test(address)) continue;
      if (!local.includes(bracketed(address))) local.push(bracketed(address));
    }
    const own = local.map((host) => `http://${host}:${port}`);
    const configured = publicOrigins.map(canonicalOrigin).filter((o): o is string => o !== null);
    this.publicOrigins = configured.length > 0 ? configured : own;
    this.httpsOnly = configured.length > 0 && configured.every((o) => o.startsWith("https:"));
    // Pages of the allowed origins may connect; the lab is still reached by a public name.
    for (const origin of allowedOrigins.map(canonicalOrigin)) if (origin) this.origins.add(origin);
    for (const origin of this.publicOrigins) {
      this.origins.add(origin);
      const url = new URL(origin);
      this.addHost(url.host);
      if (url.port === "") this.addHost(`${url.hostname}:${url.protocol === "https:" ? 443 : 80}`);
    }
    // The listening address itself is always a host the lab answers to: what a proxy on this
    // machine passes on as Host, and what a command-line client names. No page of another
    // site has it as its host, so it gives a rebinding page nothing.
    for (const origin of own) this.addHost(new URL(origin).host);
  }

  private addHost(host: string): void {
    const canonical = canonicalHost(host);
    if (canonical) this.hosts.add(canonical);
  }

  /** No Origin: not a browser (the CLI, tests, websocat); the Host rule still holds for it. */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    const canonical = canonicalOrigin(origin);
    return canonical !== null && this.origins.has(canonical);
  }

  hostAllowed(host: string | undefined): boolean {
    const canonical = canonicalHost(host);
    return canonical !== null && this.hosts.has(canonical);
  }
}

/** A header's value as it may go to the log: at most LOGGED_HEADER_CHARS characters, control
 *  characters replaced (the logger escapes the rest as JSON). */
export function loggable(value: string | undefined): string | undefined {
  return value?.slice(0, LOGGED_HEADER_CHARS).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd");
}

export function createLabServer(options: LabServerOptions) {
  // closeTimeout is ws's own option (its type declarations do not list it yet).
  const serverOptions = { noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, closeTimeout: CLOSE_TIMEOUT_MS };
  const wss = new WebSocketServer(serverOptions);
  const trustedProxies = options.trustedProxies ?? NO_TRUSTED_PROXIES;
  const heartbeatTiming = options.heartbeat ?? HEARTBEAT;

  // The origins are known once the server listens (the default ones name its port).
  let listeningHost: string | null = null;
  let web: WebOrigins | null = null;
  const webOrigins = (): WebOrigins => {
    if (!web) {
      const address = server.address();
      const bound = typeof address === "object" && address ? address : { address: "", port: 0 };
      const addresses = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
      web = new WebOrigins(options.publicOrigins ?? [], options.allowedOrigins, { host: listeningHost ?? bound.address, port: bound.port, addresses });
    }
    return web;
  };
  const secureCookies = (req: http.IncomingMessage): boolean => webOrigins().httpsOnly || overHttps(req);
  const learner = (req: http.IncomingMessage, res: http.ServerResponse): string => learnerFor(req, res, secureCookies(req));

  const pages = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Pages hand out the learner cookie, so the page's WebSocket carries it.
    if (req.method === "GET" && !req.url?.startsWith("/_next/")) learner(req, res);
    Promise.resolve(options.handleRequest(req, res)).catch((err: unknown) => {
      log.error({ url: req.url, err }, "request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("Internal error\n");
    });
  };
  const classroom = options.classroom ?? null;
  const handleClassroom = classroom
    ? createClassesApi({
        classrooms: classroom.classrooms,
        secret: classroom.secret,
        sessions: classroom.sessions,
        loginLimiter: new AttemptLimiter(LOGIN_ATTEMPTS.burst, LOGIN_ATTEMPTS.refillMs),
        joinLimiter: new AttemptLimiter(JOIN_ATTEMPTS.burst, JOIN_ATTEMPTS.refillMs),
        originAllowed: (origin) => webOrigins().originAllowed(origin),
        secureCookies,
        learnerFor: learner,
        clientOf: (req) => clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], trustedProxies),
        passToPages: pages,
      })
    : null;

  const server = http.createServer((req, res) => {
    const url = parseRequestUrl(req.url);
    if (!url) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("Bad request target\n");
      return;
    }
    if (url.pathname === "/healthz") {
      const access = healthAccess(req.headers.authorization, options.operatorToken ?? null);
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
        res.end(JSON.stringify(body));
      };
      if (access.kind === "refused") {
        json(401, { error: access.error }, { "www-authenticate": "Bearer" });
        return;
      }
      const ready = options.registry !== null;
      const sessions = sessionCounts(options.registry);
      // To anyone: whether to send learners here. The host's kernel and its missing features
      // are for the operator (they tell an attacker which kernel to aim at).
      const body =
        access.kind === "operator"
          ? {
              ready,
              kernel: options.features.kernel,
              cgroupVersion: options.features.cgroupVersion,
              features: Object.fromEntries(options.features.checks.map((c) => [c.name, c.ok])),
              sessions,
              // Sessions being read, and how far the readings are slowed to stay in their budget.
              readings: { sessions: hostProbeScheduler.size, stretch: Number(hostProbeScheduler.stretch.toFixed(2)) },
              // Sandboxes starting now, waiting for a turn, and how many may start at once.
              starts: options.registry?.starts ?? null,
            }
          : { ready, sessions };
      // ?scope=process: this process alone, never the database (a liveness probe: a node whose
      // database is away still serves its open terminals, and restarting it would end them).
      const cluster = url.searchParams.get("scope") === "process" ? null : options.cluster;
      if (!cluster) {
        json(200, body);
        return;
      }
      // The nodes as the database has them: a node that cannot read it answers 503, so that a
      // readiness probe takes it out of the ingress until it can.
      void cluster.health().then(
        (nodes) => json(200, { ...body, cluster: access.kind === "operator" ? { node: cluster.nodeId, nodes } : { ready: true } }),
        (err: unknown) => {
          log.error({ err }, "health check could not read the cluster's nodes");
          json(503, { ...body, ready: false, cluster: access.kind === "operator" ? { node: cluster.nodeId, error: "the database cannot be read" } : { ready: false } });
        },
      );
      return;
    }
    if (url.pathname === "/metrics") {
      const access = metricsAccess(req.headers.authorization, options.operatorToken ?? null);
      if (!access.ok) {
        res.writeHead(access.status, { "content-type": "text/plain", "cache-control": "no-store", ...(access.status === 401 ? { "www-authenticate": "Bearer" } : {}) });
        res.end(`${access.error}\n`);
        return;
      }
      void metricsText().then(
        ({ contentType, body }) => {
          res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
          res.end(body);
        },
        (err: unknown) => {
          log.error({ err }, "metrics could not be collected");
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("The metrics could not be collected; the server's log says why.\n");
        },
      );
      return;
    }
    if (url.pathname === "/api/progress") {
      void progressResponse(learner(req, res), options).then((body) => {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(body));
      }, (err: unknown) => {
        log.error({ err }, "progress request failed");
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Progress is not available right now." }));
      });
      return;
    }
    if (url.pathname === WS_PATH) {
      res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
      res.end("This address is the lab's WebSocket; open a lesson page instead.\n");
      return;
    }
    if (handleClassroom?.(req, res, url)) return;
    pages(req, res);
  });

  server.on("upgrade", (req, socket, head) => {
    const url = parseRequestUrl(req.url);
    if (!url) {
      refuseUpgrade(socket, 400, "Bad Request");
      return;
    }
    if (url.pathname !== WS_PATH) {
      if (options.dev && url.pathname.startsWith("/_next/")) return; // Next's hot reload
      refuseUpgrade(socket, 404, "Not Found");
      return;
    }
    // A connection another node passes on: that node checked the page's origin, and says
    // (signed) from which address it came. Without the cluster's secret, nobody is trusted so.
    const relayHeader = req.headers[RELAY_HEADER];
    // The client's address (bounding sandboxes per address): the socket's peer, or what a
    // trusted reverse proxy says it forwarded for.
    let remote = clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], trustedProxies);
    let relayed = false;
    if (relayHeader !== undefined) {
      const verified = options.cluster && typeof relayHeader === "string" ? verifyRelay(options.cluster.secret, options.cluster.nodeId, relayHeader, Date.now()) : { ok: false as const, reason: "this server is not part of a cluster" };
      if (!verified.ok) {
        log.warn({ remote, reason: verified.reason }, "relayed websocket refused");
        refuseUpgrade(socket, 403, "Forbidden");
        return;
      }
      remote = verified.claims.remote;
      relayed = true;
    } else if (!webOrigins().hostAllowed(req.headers.host)) {
      // A name the lab is not reached by: a DNS-rebinding page, or a misconfigured proxy.
      const host = req.headers.host;
      log.warn({ remote, host: loggable(host), hostLength: host?.length ?? 0, publicOrigins: webOrigins().publicOrigins }, "websocket refused: unknown Host (set NSLAB_PUBLIC_ORIGIN to the address learners open)");
      refuseUpgrade(socket, 421, "Misdirected Request");
      return;
    } else if (!webOrigins().originAllowed(req.headers.origin)) {
      const origin = req.headers.origin;
      log.warn({ remote, origin: loggable(origin), originLength: origin?.length ?? 0 }, "websocket origin rejected");
      refuseUpgrade(socket, 403, "Forbidden");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      heartbeats.set(ws, { pings: [], answeredAt: Date.now(), buffered: 0 });
      ws.on("pong", (data) => answered(ws, data));
      // A client without the cookie (a script, a test) still gets a session; its progress is
      // kept under an id nobody will present again, so it cannot resume it either.
      const known = learnerFromCookies(req.headers.cookie);
      const cookie = req.headers.cookie;
      const context = {
        registry: options.registry,
        unsupportedReason: options.unsupportedReason,
        classrooms: classroom?.classrooms ?? null,
        // Asked only when the page asks to observe: checked then, against the store.
        isInstructor: () => (classroom ? classroom.sessions.check(cookie) : Promise.resolve(false)),
      };
      const learnerId = known ?? randomBytes(16).toString("hex");
      const serveHere = () => new LabConnection(ws, context, remote, learnerId, known !== null);
      const cluster = options.cluster;
      // Passed on once at most: the node that got it serves it, whatever it finds.
      if (!cluster || relayed) {
        serveHere();
        return;
      }
      routeConnection(ws, { cookie, remote }, {
        nodeId: cluster.nodeId,
        secret: cluster.secret,
        log,
        route: (message) => cluster.route(message, { learnerId, hasCookie: known !== null }),
        serveHere: (frames) => {
          serveHere();
          // The frames that came while the node decided, to the connection that now listens.
          for (const frame of frames) ws.emit("message", frame.data, frame.isBinary);
        },
      });
    });
  });

  // A page that vanished without closing (laptop lid, lost network), or that stopped reading,
  // is found by missed pongs: a ping waits in the send buffer behind everything before it, so
  // only a page that reads can answer it. Each ping carries random bytes the pong must echo
  // (RFC 6455 §5.5.3), so pongs sent without reading answer nothing. Pinged PINGS_PER_TURN at
  // a time, the event loop given back in between: a ping is a write to the socket, and a
  // thousand in one turn held every terminal up for tens of milliseconds.
  // A page on a slow link that is still taking in a large backlog (a replay after a restart,
  // thirty pages on one uplink) has its pongs queued behind it: a backlog (ws's buffer and the
  // kernel's send queue, socket-queue.ts) smaller than at the last tick shows it reads, and
  // counts as an answer. One that reads nothing never drains it.
  const heartbeats = new WeakMap<WebSocket, { pings: Array<{ payload: Buffer; at: number }>; answeredAt: number; buffered: number }>();
  const answered = (ws: WebSocket, payload: Buffer) => {
    const state = heartbeats.get(ws);
    const ping = state?.pings.find((p) => p.payload.equals(payload));
    if (!state || !ping) return;
    state.answeredAt = Math.max(state.answeredAt, ping.at);
    state.pings = state.pings.filter((p) => p.at > ping.at);
  };
  const pingSome = (sockets: WebSocket[], from: number, cutOff: boolean) => {
    const now = Date.now();
    for (let i = from; i < Math.min(sockets.length, from + PINGS_PER_TURN); i++) {
      const ws = sockets[i]!;
      const state = heartbeats.get(ws);
      if (ws.readyState !== WebSocket.OPEN || !state) continue;
      if (!cutOff) state.answeredAt = Math.max(state.answeredAt, now - heartbeatTiming.intervalMs);
      const backlog = ws.bufferedAmount + (sendQueueBytes(socketFd(underlyingSocket(ws))) ?? 0);
      if (backlog < state.buffered) state.answeredAt = now;
      state.buffered = backlog;
      if (now - state.answeredAt > heartbeatTiming.timeoutMs) {
        log.info({ silentMs: now - state.answeredAt, bufferedBytes: ws.bufferedAmount }, "websocket cut off: no pong");
        ws.terminate();
        continue;
      }
      const payload = randomBytes(8);
      state.pings.push({ payload, at: now });
      if (state.pings.length > PINGS_OUTSTANDING) state.pings.shift();
      ws.ping(payload);
    }
    if (from + PINGS_PER_TURN < sockets.length) setImmediate(() => pingSome(sockets, from + PINGS_PER_TURN, cutOff));
  };
  // After the poll phase (setImmediate), so that pongs that came while the event loop was busy
  // are read before anyone is judged; and a tick that comes far too late (the whole server was
  // stalled: a long GC, a starved machine) cuts nobody off, since nobody could be heard.
  let lastTickAt = Date.now();
  const heartbeat = setInterval(() => {
    const now = Date.now();
    const onTime = now - lastTickAt <= 2 * heartbeatTiming.intervalMs;
    lastTickAt = now;
    setImmediate(() => pingSome([...wss.clients], 0, onTime));
  }, heartbeatTiming.intervalMs);
  heartbeat.unref();

  return {
    server,
    /** Open lab WebSockets. */
    get sessionSockets(): number {
      return wss.clients.size;
    },
    listen(port: number, host: string): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          listeningHost = host;
          web = null;
          const address = server.address();
          resolve(typeof address === "object" && address ? address.port : port);
        });
      });
    },
    /** Stop serving: every session ends (its pages are told, 4006), then the sockets go. */
    async close(): Promise<void> {
      clearInterval(heartbeat);
      await classroom?.classrooms.close();
      await options.registry?.endAll();
      // A client that never answers the close handshake, or an HTTP request still in flight,
      // must not hold the shutdown open.
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
