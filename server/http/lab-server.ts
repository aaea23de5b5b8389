// The one HTTP server of nslab: Next's pages, /healthz, and the lab's WebSocket at /ws, all on
// one port. Only /ws upgrades are ours; in development Next's hot reload upgrades under
// /_next/ are left to Next; every other upgrade is refused with 404 rather than left hanging.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { Duplex } from "node:stream";

import { WebSocket, WebSocketServer } from "ws";

import { type ClientMessage, MAX_FRAME_BYTES, WS_PATH } from "../../common/protocol";
import type { NodeRef } from "../cluster/cluster-node";
import { routeConnection } from "../cluster/relay";
import { RELAY_HEADER, verifyRelay } from "../cluster/relay-auth";
import { AttemptLimiter, type InstructorSecret, type InstructorSessions } from "../classroom/instructor-auth";
import type { Classrooms } from "../classroom/classrooms";
import type { HostFeatures } from "../kernel/features";
import { log } from "../log";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { hostProbeScheduler } from "../sessions/session-readings";
import type { SessionRegistry } from "../sessions/session-registry";
import { LEARNER_ID_PATTERN, type Store } from "../store/store";
import { LabConnection } from "../ws/lab-connection";
import { createClassesApi } from "./classes-api";
import { cookieValue } from "./cookies";
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
  /** Extra origins allowed to open /ws; the server's own origin always is. */
  allowedOrigins: string[];
  dev: boolean;
  /** Where learners and their progress are kept; GET /api/progress reads it. */
  store?: Store | null;
  /** The classroom (classes, the instructor's login); without it /teach and /join answer 404. */
  classroom?: LabClassroom | null;
  /** When the lab runs on several nodes: how a page's connection finds the node that serves it. */
  cluster?: LabCluster | null;
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

const HEARTBEAT_MS = 30_000;
/** Pings sent in one turn of the event loop. */
const PINGS_PER_TURN = 64;

/** An anonymous learner is this cookie: an opaque random id, nothing else about them. */
export const LEARNER_COOKIE = "nslab_learner";
const LEARNER_COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** The learner id in the request's cookies, if there is a valid one. */
export function learnerFromCookies(header: string | undefined): string | null {
  return cookieValue(header, LEARNER_COOKIE, LEARNER_ID_PATTERN);
}

/** The request's learner, issuing a new id (and its cookie) to a first-time visitor. */
function learnerFor(req: http.IncomingMessage, res: http.ServerResponse): string {
  const known = learnerFromCookies(req.headers.cookie);
  if (known) return known;
  const id = randomBytes(16).toString("hex");
  res.appendHeader("set-cookie", `${LEARNER_COOKIE}=${id}; Path=/; Max-Age=${LEARNER_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax`);
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

/** A browser's WebSocket always carries Origin; it must be this server or an allowed one. */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined, allowed: string[]): boolean {
  if (!origin) return true; // not a browser: command-line clients and tests
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  if (hostHeader && originHost === hostHeader) return true;
  return allowed.includes(origin);
}

export function createLabServer(options: LabServerOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const alive = new WeakMap<object, boolean>();

  const pages = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Pages hand out the learner cookie, so the page's WebSocket carries it.
    if (req.method === "GET" && !req.url?.startsWith("/_next/")) learnerFor(req, res);
    Promise.resolve(options.handleRequest(req, res)).catch((err: unknown) => {
      log.error({ url: req.url, err: (err as Error).message }, "request failed");
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
        allowedOrigins: options.allowedOrigins,
        originAllowed,
        learnerFor,
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
      const body = {
        ready: options.registry !== null,
        kernel: options.features.kernel,
        cgroupVersion: options.features.cgroupVersion,
        features: Object.fromEntries(options.features.checks.map((c) => [c.name, c.ok])),
        sessions: sessionCounts(options.registry),
        // Sessions being read, and how far the readings are slowed to stay in their budget.
        readings: { sessions: hostProbeScheduler.size, stretch: Number(hostProbeScheduler.stretch.toFixed(2)) },
        // Sandboxes starting now, waiting for a turn, and how many may start at once.
        starts: options.registry?.starts ?? null,
      };
      // ?scope=process: this process alone, never the database (a liveness probe: a node whose
      // database is away still serves its open terminals, and restarting it would end them).
      const cluster = url.searchParams.get("scope") === "process" ? null : options.cluster;
      if (!cluster) {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(body));
        return;
      }
      // The nodes as the database has them: a node that cannot read it answers 503, so that a
      // readiness probe takes it out of the ingress until it can.
      void cluster.health().then(
        (nodes) => {
          res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
          res.end(JSON.stringify({ ...body, cluster: { node: cluster.nodeId, nodes } }));
        },
        (err: unknown) => {
          log.error({ err: (err as Error).message }, "health check could not read the cluster's nodes");
          res.writeHead(503, { "content-type": "application/json", "cache-control": "no-store" });
          res.end(JSON.stringify({ ...body, ready: false, cluster: { node: cluster.nodeId, error: "the database cannot be read" } }));
        },
      );
      return;
    }
    if (url.pathname === "/api/progress") {
      void progressResponse(learnerFor(req, res), options).then((body) => {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(body));
      }, (err: unknown) => {
        log.error({ err: (err as Error).message }, "progress request failed");
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
    let remote = req.socket.remoteAddress ?? "unknown";
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
    } else if (!originAllowed(req.headers.origin, req.headers.host, options.allowedOrigins)) {
      log.warn({ origin: req.headers.origin }, "websocket origin rejected");
      refuseUpgrade(socket, 403, "Forbidden");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true);
      ws.on("pong", () => alive.set(ws, true));
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

  // A page that vanished without closing (laptop lid, lost network) is found by missed pongs.
  // Pinged PINGS_PER_TURN at a time, the event loop given back in between: a ping is a write
  // to the socket, and a thousand in one turn held every terminal up for tens of milliseconds.
  const pingSome = (sockets: WebSocket[], from: number) => {
    for (const ws of sockets.slice(from, from + PINGS_PER_TURN)) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
    if (from + PINGS_PER_TURN < sockets.length) setImmediate(() => pingSome(sockets, from + PINGS_PER_TURN));
  };
  const heartbeat = setInterval(() => pingSome([...wss.clients], 0), HEARTBEAT_MS);
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
