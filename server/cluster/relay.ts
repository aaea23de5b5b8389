// A page's WebSocket that reached a node other than the one running its sandbox is passed on
// to that node, frame by frame: the page's protocol does not change, and no ingress needs to
// know which node holds which session. The node decides from the page's first frame (a
// resume or watch names its session, an observe the class member, a start its lesson), then
// either keeps the connection (a LabConnection, as on a single node) or opens a WebSocket to
// the owner with the page's cookies and a signed header (relay-auth.ts), and copies frames
// both ways until either side closes.
//
// The relay holds at most RELAY_MAX_BUFFERED bytes for a side that does not read: past it, it
// stops reading the other side (ws's pause), so a stalled page pushes back on the owning node
// as it would on a direct connection; the owner's own flow control (the page's pty.ack, which
// the relay passes on) does the rest.
import { WebSocket } from "ws";

import { type ClientMessage, MAX_FRAME_BYTES, WS_PATH, parseClientMessage } from "../../common/protocol";
import type { Logger } from "../log";
import type { NodeRef } from "./cluster-node";
import { RELAY_HEADER, signRelay } from "./relay-auth";

/** Frames a page may send before the node has decided where its connection goes: its first
 *  message, and perhaps a resize or a few keys typed meanwhile. */
const MAX_EARLY_FRAMES = 8;
const MAX_EARLY_BYTES = 32 * 1024;
/** How long the decision may take (a database lookup). */
const ROUTE_TIMEOUT_MS = 3_000;
/** Lookups under way at once, at most: each is a query on the pool, and a flood of first
 *  frames must not take the database from everything else. */
export const MAX_ROUTING = 64;
/** A socket must say what it wants this soon, as LabConnection asks of one it serves. */
const FIRST_FRAME_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** The owner's connection is pinged this often, and let go when a pong does not come back
 *  before the next ping: an owner that vanished without a TCP reset (power, a cut cable)
 *  must not freeze its learners' terminals. */
const OWNER_PING_MS = 10_000;
/** Close code for "try again in a moment" (RFC 6455 1013), which the page answers by
 *  reconnecting: where the sandbox is could not be found out right now, and serving the page
 *  here would lose it. */
const TRY_AGAIN = 1013;
export const RELAY_MAX_BUFFERED = 1024 * 1024;
const RELAY_RESUME_BELOW = 256 * 1024;
/** The close code a page gets when the node running its sandbox went away mid-session:
 *  "service restart", which the page answers by reconnecting (and, as its sandbox is gone, by
 *  starting a new one). */
export const OWNER_LOST = 1012;
/** The owner's standard close codes that mean what they say to the page too: a normal close,
 *  going away, a policy or size violation, an internal error. */
const PASSED_ON: ReadonlySet<number> = new Set([1000, 1001, 1008, 1009, 1011]);

type Frame = { data: Buffer; isBinary: boolean };

export interface RelayOptions {
  nodeId: string;
  secret: string;
  log: Logger;
  /** Where this page's first message should be served: another node, or null for this one. */
  route(message: ClientMessage): Promise<NodeRef | null>;
  /** Serves the connection here, with the frames it sent so far. */
  serveHere(frames: Frame[]): void;
}

let routing = 0;

/** Holds the page's first frames until it is known where it goes. */
export function routeConnection(page: WebSocket, request: { cookie?: string; remote: string }, options: RelayOptions): void {
  const early: Frame[] = [];
  let earlyBytes = 0;
  let decided = false;
  // Until a LabConnection or the relay takes the socket: a frame ws refuses (too large, bad
  // UTF-8) emits "error", and an "error" nobody listens to would take the process down.
  const onError = (err: Error) => options.log.warn({ remote: request.remote, err: err.message }, "websocket error");
  page.on("error", onError);
  const firstFrameTimer = setTimeout(() => {
    if (decided || early.length > 0) return;
    decided = true;
    page.close(1002, "no session.start, session.resume or session.watch received");
  }, FIRST_FRAME_TIMEOUT_MS);
  firstFrameTimer.unref();
  const onMessage = (data: Buffer, isBinary: boolean) => {
    if (decided) return;
    early.push({ data, isBinary });
    earlyBytes += data.length;
    if (early.length > MAX_EARLY_FRAMES || earlyBytes > MAX_EARLY_BYTES) {
      decided = true;
      page.close(1008, "too much sent before the session started");
      return;
    }
    if (early.length === 1) void decide(data, isBinary);
  };
  page.on("message", onMessage as (data: unknown, isBinary: boolean) => void);
  page.on("close", () => {
    decided = true;
    clearTimeout(firstFrameTimer);
  });

  const here = () => {
    page.off("message", onMessage as (data: unknown, isBinary: boolean) => void);
    // The LabConnection listens for errors from here on.
    page.off("error", onError);
    options.serveHere(early.splice(0));
  };

  const decide = async (data: Buffer, isBinary: boolean) => {
    clearTimeout(firstFrameTimer);
    // Anything but a well-formed first message is this node's to answer, as it always was.
    const parsed = isBinary ? null : parseClientMessage(data.toString("utf8"));
    const message = parsed?.ok ? parsed.message : null;
    // A page that names a running sandbox must reach it or try again: served here, it would
    // be told the sandbox is unknown and start a new one, losing the old.
    const namesSandbox = message?.type === "session.resume" || message?.type === "session.watch" || message?.type === "session.observe";
    let target: NodeRef | null | "unknown" = null;
    if (message) {
      if (routing >= MAX_ROUTING) {
        target = "unknown";
      } else {
        routing++;
        let timer: NodeJS.Timeout | undefined;
        // Counted until the lookup itself ends, not when this page stops waiting for it: one
        // that timed out still holds a connection of the pool.
        const lookup = options
          .route(message)
          .catch((err: unknown) => {
            options.log.error({ err }, "could not find which node serves this page");
            return "unknown" as const;
          })
          .finally(() => routing--);
        try {
          target = await Promise.race([lookup, new Promise<"unknown">((resolve) => (timer = setTimeout(() => resolve("unknown"), ROUTE_TIMEOUT_MS)))]);
        } finally {
          clearTimeout(timer);
        }
      }
    }
    if (decided) return; // the page left, or sent too much, meanwhile
    if (target === "unknown" && namesSandbox) {
      decided = true;
      page.close(TRY_AGAIN, "the lab is busy; reconnecting");
      return;
    }
    if (target === null || target === "unknown" || target.id === options.nodeId) {
      decided = true;
      here();
      return;
    }
    try {
      relay(target);
    } catch (err) {
      options.log.error({ node: target.id, err }, "could not open a relay; serving the page here");
      decided = true;
      here();
    }
  };

  const relay = (target: NodeRef) => {
    const url = `${target.address.replace(/^http/, "ws").replace(/\/+$/, "")}${WS_PATH}`;
    const headers: Record<string, string> = {
      [RELAY_HEADER]: signRelay(options.secret, { from: options.nodeId, to: target.id, remote: request.remote, atMs: Date.now() }),
    };
    if (request.cookie) headers.cookie = request.cookie;
    const owner = new WebSocket(url, { headers, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: CONNECT_TIMEOUT_MS });
    let open = false;
    const fallBack = (why: string) => {
      if (open || decided) return;
      decided = true;
      // The owner cannot be reached (it died and is not swept yet): this node answers, as it
      // would a session it does not know, and the page starts afresh.
      options.log.warn({ node: target.id, why }, "the node serving this page cannot be reached; serving it here");
      owner.removeAllListeners();
      owner.on("error", () => undefined);
      owner.terminate();
      here();
    };
    owner.on("unexpected-response", (_req, res) => fallBack(`it answered ${res.statusCode}`));
    owner.on("error", (err) => fallBack(err.message));
    owner.on("open", () => {
      if (decided) {
        owner.close(1001);
        return;
      }
      decided = true;
      open = true;
      page.off("message", onMessage as (data: unknown, isBinary: boolean) => void);
      options.log.info({ node: target.id }, "page relayed to the node running its sandbox");
      pipe(page, owner, request.remote, options.log);
      for (const frame of early.splice(0)) owner.send(frame.data, { binary: frame.isBinary });
    });
  };
}

/** Copies frames both ways, with backpressure, and closes each side when the other closes. */
function pipe(page: WebSocket, owner: WebSocket, remote: string, log: Logger): void {
  let answered = true;
  owner.on("pong", () => (answered = true));
  const ping = setInterval(() => {
    // Not read while paused (the page is slow): its pong waits unread, and says nothing.
    if (owner.isPaused) {
      answered = true;
      return;
    }
    if (!answered) {
      log.warn({ remote }, "the node running a relayed sandbox stopped answering; letting the page go");
      owner.terminate();
      return;
    }
    answered = false;
    if (owner.readyState === WebSocket.OPEN) owner.ping();
  }, OWNER_PING_MS);
  ping.unref();
  owner.on("close", () => clearInterval(ping));
  const forward = (from: WebSocket, to: WebSocket) => {
    let waiting: NodeJS.Timeout | null = null;
    from.on("message", (data, isBinary) => {
      if (to.readyState !== WebSocket.OPEN) return;
      to.send(data as Buffer, { binary: isBinary });
      if (to.bufferedAmount > RELAY_MAX_BUFFERED && !waiting) {
        from.pause();
        waiting = setInterval(() => {
          if (to.readyState !== WebSocket.OPEN || to.bufferedAmount < RELAY_RESUME_BELOW) {
            if (waiting) clearInterval(waiting);
            waiting = null;
            from.resume();
          }
        }, 50);
        waiting.unref();
      }
    });
    from.on("close", () => {
      if (waiting) clearInterval(waiting);
    });
  };
  forward(page, owner);
  forward(owner, page);
  owner.on("close", (code, reason) => {
    // The owner's close code says why (the session ended, was reset, the lab is full…); a
    // connection that dropped without one means the owner itself went away.
    const passOn = (code >= 4000 && code <= 4999) || PASSED_ON.has(code) ? code : OWNER_LOST;
    if (passOn === OWNER_LOST) log.warn({ remote, code }, "the node running a relayed sandbox went away");
    if (page.readyState === WebSocket.OPEN) page.close(passOn, reason);
  });
  page.on("close", (code) => {
    if (owner.readyState === WebSocket.OPEN || owner.readyState === WebSocket.CONNECTING) owner.close(code >= 4000 && code <= 4999 ? code : 1000);
  });
  page.on("error", () => owner.terminate());
  owner.on("error", (err) => {
    log.warn({ remote, err: err.message }, "relay to the owning node failed");
    if (page.readyState === WebSocket.OPEN) page.close(OWNER_LOST);
  });
}
