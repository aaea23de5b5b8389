// The page's one WebSocket to the lab (/ws on the page's own origin), and the protocol spoken
// on it: session.start (or session.resume with the token of an earlier session.ready) first,
// keystrokes up and pty output down as binary frames, resizes and flow-control acks as JSON
// text frames. Every text frame from the server is parsed with the shared schema before the
// page acts on it.
//
// A sandbox outlives its socket on the server for a grace period, so this hook keeps the
// session's resume token (resume-store.ts) and comes back to the same sandbox: on a reload
// (the token is read at connect), and when the connection drops (it retries with backoff,
// saying "reconnecting…", until the sandbox is back or the server says it is gone). A second
// tab of the same lesson takes the sandbox over; the tab that had it is told, and watches.
//
// The socket belongs to the LabProvider, the one user of this hook: it closes when the provider
// unmounts, and the server keeps the sandbox for its grace period. React's StrictMode mounts,
// unmounts and mounts again in development; the first mount's cleanup closes whatever it
// opened (usually nothing yet, as the terminal code is still loading).
//
// This hook speaks the terminal's part of the protocol itself (start, resume, ready, exit,
// acks, resizes) and hands every other parsed frame to `onMessage`: kernel state, limits and
// progress are the provider's business.

import { useCallback, useEffect, useRef, useState } from "react";

import {
  type AttachRole,
  ClientMessage,
  CloseCode,
  INPUT_BYTES_PER_SECOND,
  INPUT_FRAME_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
  type TerminalSize,
  WS_PATH,
  closeReason,
  parseServerMessage,
} from "../../common/protocol";
import { AckBatcher } from "../terminal/ack-batcher";
import {
  ABNORMAL_CLOSURE,
  type LabError,
  type LabState,
  RECONNECTABLE_CLOSE_CODES,
  type SessionExit,
  type SessionReady,
  UNREACHABLE_REASON,
  closedState,
  reconnectDelayMs,
} from "../terminal/lab-state";
import { type StoredSession, clearStoredSession, loadStoredSession, saveStoredSession } from "./resume-store";

/** Receives each chunk of pty output; call `rendered` once the chunk is on screen (flow control). */
export type OutputSink = (chunk: Uint8Array, rendered: () => void) => void;

export type LabSocketEvents = {
  onOutput: OutputSink;
  /**
   * Every parsed frame, after the socket has handled its own part. For an `error` frame,
   * return true when it answered something of the caller's (a limits.update): the status line
   * then does not repeat it.
   */
  onMessage(message: ServerMessage): boolean | void;
  /** The connection ended, for whatever reason (closed by the server, by the page, or broken). */
  onDisconnect(): void;
};

/** "auto": back to this lesson's sandbox if the page has its token, else a new one; "new": a
 *  new sandbox whatever is stored. */
export type ConnectMode = "auto" | "new";

export type LabSocket = {
  state: LabState;
  /** Opens a session with a terminal of this size, closing any current connection first. */
  connect(size: TerminalSize, mode?: ConnectMode): void;
  /** Keystrokes or pasted text (a string, sent as UTF-8) or raw bytes. Dropped unless this page owns a ready session. */
  sendInput(data: string | Uint8Array<ArrayBuffer>): void;
  /** The terminal now has this size; sizes outside the protocol's bounds are not sent. */
  resize(size: TerminalSize): void;
  /** The terminal cannot run at all; show why instead of a connection state. */
  markBroken(reason: string): void;
  /** Sends a control message on the live session; false when there is none to send it on. */
  send(message: ClientMessage): boolean;
};

/** Whose sandbox an instructor's page watches (session.observe). */
export type ObserveTarget = { classId: string; memberId: string };

/** What a connection asks for first. */
type Intent =
  | { kind: "start" }
  /** The instructor watches a class member's sandbox; nothing is stored or resumed. */
  | { kind: "observe"; target: ObserveTarget }
  /** Back to a stored sandbox. If it is refused or gone: start a new one (a page load), or
   *  stop and say so (a reconnect: the learner should know their work is gone). */
  | { kind: "resume"; role: AttachRole; stored: StoredSession; ifRefused: "start" | "fail" };

/** Everything that belongs to one socket; a reconnect makes a new one. */
type Connection = {
  socket: WebSocket;
  acks: AckBatcher;
  intent: Intent;
  ready: boolean;
  role: AttachRole;
  session: SessionReady | null;
  /** The size the server's pty has, as far as this page has told it. */
  ptySize: TerminalSize;
  /** The terminal's latest size, sent once the session is ready if it differs. */
  wantedSize: TerminalSize;
  lastError: LabError | null;
  exit: SessionExit | null;
  /** Shown once ready: why this is a new sandbox and not the one the page had. */
  notice: string | null;
};

/** Where a dropped connection's retries stand. */
type Retry = { session: SessionReady; role: AttachRole; attempt: number; giveUpAt: number; timer: ReturnType<typeof setTimeout> | null };

/** How long past the server's grace period the page keeps trying: a clock or two apart. */
const RETRY_MARGIN_MS = 10_000;
/** A page let go for falling behind (4008) or for not reading (4011) this often within FELL_BEHIND_WINDOW_MS stops
 *  reconnecting by itself: its link cannot keep up, and trying again at once would not help. */
const FELL_BEHIND_LIMIT = 3;
const FELL_BEHIND_WINDOW_MS = 60_000;

const utf8 = new TextEncoder();

function labSocketUrl(location: Location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${WS_PATH}`;
}

function sendMessage(socket: WebSocket, message: ClientMessage): boolean {
  // A socket that is closing or closed drops the frame; the close handler reports why.
  if (socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(message));
  return true;
}

function isValidSize(size: TerminalSize): boolean {
  return ClientMessage.safeParse({ type: "pty.resize", size }).success;
}

function sameSize(a: TerminalSize, b: TerminalSize): boolean {
  return a.cols === b.cols && a.rows === b.rows;
}

/** After a reset the learner's new sandbox takes a moment to start: the instructor's view
 *  looks for it this long after the old one closed. */
const OBSERVE_AGAIN_MS = 1_500;

function firstFrame(intent: Intent, lesson: string, size: TerminalSize): ClientMessage {
  if (intent.kind === "start") return { type: "session.start", version: PROTOCOL_VERSION, lesson, size };
  if (intent.kind === "observe") return { type: "session.observe", version: PROTOCOL_VERSION, classId: intent.target.classId, memberId: intent.target.memberId };
  const { sessionId, token } = intent.stored;
  return intent.role === "owner"
    ? { type: "session.resume", version: PROTOCOL_VERSION, sessionId, token, size }
    : { type: "session.watch", version: PROTOCOL_VERSION, sessionId, token };
}

/** How long a page whose lab went away to restart (4006) looks for it to come back, and how
 *  often: a restart takes seconds; a server that is gone for good is not asked forever. */
const RESTART_WAIT_MS = 10 * 60_000;
const RESTART_POLL_MS = 2_000;
const RESTARTED_NOTICE = "The lab restarted, so this is a fresh sandbox. Your progress is kept.";

/** Asks /healthz every RESTART_POLL_MS until the lab says it is ready, then calls `back`; the
 *  pending timer is kept in `timer`, so that whatever stops the page's retries stops this too. */
function whenLabIsBack(timer: { current: ReturnType<typeof setTimeout> | null }, giveUpAt: number, back: () => void): void {
  const ask = () => {
    timer.current = setTimeout(() => {
      const asked = timer.current;
      void fetch("/healthz?scope=process", { cache: "no-store" })
        .then(async (res) => res.ok && ((await res.json()) as { ready?: unknown }).ready === true)
        .catch(() => false)
        .then((ready) => {
          // Stopped (a click on Reconnect, the page closed) while the request was out.
          if (timer.current !== asked) return;
          timer.current = null;
          if (ready) back();
          else if (Date.now() < giveUpAt) ask();
        });
    }, RESTART_POLL_MS);
  };
  ask();
}

/** Detach a socket's handlers and close it: a close the page asked for is not news. */
function silence(connection: Connection): void {
  connection.acks.dispose();
  connection.socket.onopen = null;
  connection.socket.onmessage = null;
  connection.socket.onclose = null;
  connection.socket.close(CloseCode.Normal);
}

export function useLabSocket(lesson: string, events: LabSocketEvents, observe: ObserveTarget | null = null): LabSocket {
  const [state, setState] = useState<LabState>({ phase: "loading" });
  const connectionRef = useRef<Connection | null>(null);
  const retryRef = useRef<Retry | null>(null);
  /** An instructor's view waiting to look for a learner's fresh sandbox. */
  const againRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const fellBehindRef = useRef<number[]>([]);

  // The latest handlers, read when a frame arrives, so new handlers never need a new socket.
  const eventsRef = useRef(events);
  useEffect(() => {
    eventsRef.current = events;
  }, [events]);

  const stopRetrying = useCallback(() => {
    if (againRef.current) clearTimeout(againRef.current);
    againRef.current = null;
    const retry = retryRef.current;
    retryRef.current = null;
    if (retry?.timer) clearTimeout(retry.timer);
  }, []);

  const disconnect = useCallback(() => {
    const connection = connectionRef.current;
    connectionRef.current = null;
    if (!connection) return;
    eventsRef.current.onDisconnect();
    silence(connection);
  }, []);

  // Declared before use through a ref: a connection's close handler schedules the next one.
  const openRef = useRef<(size: TerminalSize, intent: Intent) => void>(() => undefined);

  /** The connection dropped after (or while getting back to) a session: try again, or give up. */
  const retryOrGiveUp = useCallback(
    (connection: Connection, closeCode: number) => {
      const previous = retryRef.current;
      const session = connection.session ?? previous?.session;
      const role = connection.session ? connection.role : (previous?.role ?? connection.role);
      const stored = loadStoredSession(lesson);
      if (!session || !stored || stored.sessionId !== session.sessionId) return false;
      if (!RECONNECTABLE_CLOSE_CODES.has(closeCode) && !(previous && closeCode !== CloseCode.SessionGone)) return false;
      const now = Date.now();
      // A page let go for being slow gets a few tries, not a loop it can never win.
      if (closeCode === CloseCode.FellBehind || closeCode === CloseCode.StoppedReading) {
        const recent = [...fellBehindRef.current.filter((at) => now - at < FELL_BEHIND_WINDOW_MS), now];
        fellBehindRef.current = recent;
        if (recent.length >= FELL_BEHIND_LIMIT) return false;
      }
      const giveUpAt = previous?.giveUpAt ?? now + session.reconnectGraceS * 1000 + RETRY_MARGIN_MS;
      if (now > giveUpAt) {
        stopRetrying();
        setState({
          phase: "closed",
          closeCode: ABNORMAL_CLOSURE,
          reason: UNREACHABLE_REASON,
          detail: `Your sandbox waits ${session.reconnectGraceS} s for this page; after that it is ended.`,
          offer: "reconnect",
        });
        return true;
      }
      const attempt = (previous?.attempt ?? 0) + 1;
      const size = connection.wantedSize;
      const retry: Retry = { session, role, attempt, giveUpAt, timer: null };
      retry.timer = setTimeout(() => {
        retry.timer = null;
        const latest = loadStoredSession(lesson);
        if (!latest || latest.sessionId !== session.sessionId) {
          stopRetrying();
          setState(closedState(CloseCode.SessionGone, null, null));
          return;
        }
        openRef.current(size, { kind: "resume", role, stored: latest, ifRefused: "fail" });
      }, reconnectDelayMs(attempt));
      retryRef.current = retry;
      setState({ phase: "reconnecting", session, attempt });
      return true;
    },
    [lesson, stopRetrying],
  );

  const open = useCallback(
    (size: TerminalSize, intent: Intent) => {
      disconnect();
      let socket: WebSocket;
      try {
        socket = new WebSocket(labSocketUrl(window.location));
      } catch {
        setState(closedState(ABNORMAL_CLOSURE, null, null));
        return;
      }
      socket.binaryType = "arraybuffer";
      const connection: Connection = {
        socket,
        acks: new AckBatcher((bytes) => sendMessage(socket, { type: "pty.ack", bytes })),
        intent,
        ready: false,
        role: intent.kind === "resume" ? intent.role : intent.kind === "observe" ? "watcher" : "owner",
        session: null,
        ptySize: size,
        wantedSize: size,
        lastError: null,
        exit: null,
        notice: null,
      };
      connectionRef.current = connection;
      // While retrying, the status line keeps saying "reconnecting…".
      if (!retryRef.current) setState({ phase: "connecting" });

      socket.onopen = () => {
        sendMessage(socket, firstFrame(intent, lesson, size));
      };

      socket.onmessage = (event: MessageEvent<unknown>) => {
        if (event.data instanceof ArrayBuffer) {
          const chunk = new Uint8Array(event.data);
          eventsRef.current.onOutput(chunk, () => connection.acks.rendered(chunk.byteLength));
          return;
        }
        if (typeof event.data !== "string") return;
        const parsed = parseServerMessage(event.data);
        if (!parsed.ok) {
          // A frame this page cannot read is a version mismatch or a server bug; the session
          // may still work, so it is reported for whoever debugs it and otherwise ignored.
          console.warn(`lab: ignored a frame from the server: ${parsed.message}`);
          return;
        }
        const message = parsed.message;
        switch (message.type) {
          case "session.ready": {
            connection.ready = true;
            connection.role = message.role;
            connection.session = message;
            connection.ptySize = message.size;
            if (message.role === "owner" && message.resumeToken && intent.kind !== "observe") {
              saveStoredSession(lesson, { sessionId: message.sessionId, token: message.resumeToken });
            }
            stopRetrying();
            // The terminal may have been resized while the sandbox was starting.
            if (message.role === "owner" && !sameSize(connection.wantedSize, connection.ptySize)) {
              connection.ptySize = connection.wantedSize;
              sendMessage(socket, { type: "pty.resize", size: connection.wantedSize });
            }
            // The provider learns of the session before the page renders it as ready, so that
            // whatever reacts to "ready" finds the session's limits already in place, and the
            // terminal is cleared before the replay that follows this frame.
            eventsRef.current.onMessage(message);
            setState({ phase: "ready", session: message, role: message.role, notice: connection.notice });
            return;
          }
          case "session.role":
            connection.role = message.role;
            // Owner again (the tab that took over went away): the sandbox gets this page's size.
            if (message.role === "owner" && !sameSize(connection.wantedSize, connection.ptySize)) {
              connection.ptySize = connection.wantedSize;
              sendMessage(socket, { type: "pty.resize", size: connection.wantedSize });
            }
            eventsRef.current.onMessage(message);
            setState((current) => (current.phase === "ready" ? { ...current, role: message.role, notice: message.reason } : current));
            return;
          case "session.exit":
            connection.exit = message;
            if (connection.session) clearStoredSession(lesson, connection.session.sessionId);
            break;
          case "error": {
            const intent = connection.intent;
            if (!connection.ready && intent.kind === "observe" && (message.code === "observe_refused" || message.code === "too_many_watchers")) {
              // Nothing to watch (no live sandbox, or not the instructor): say so, and stop.
              connectionRef.current = null;
              eventsRef.current.onDisconnect();
              silence(connection);
              setState({ phase: "closed", closeCode: CloseCode.SessionGone, reason: "There is no sandbox to watch right now.", detail: message.message, offer: "reconnect" });
              return;
            }
            if (!connection.ready && intent.kind === "resume" && (message.code === "session_gone" || message.code === "resume_refused")) {
              clearStoredSession(lesson, intent.stored.sessionId);
              if (intent.ifRefused === "start") {
                // A page load whose stored sandbox is gone: a new one, saying why.
                connection.intent = { kind: "start" };
                connection.role = "owner";
                connection.notice = message.code === "session_gone" ? `${message.message} This is a new sandbox.` : null;
                sendMessage(socket, firstFrame(connection.intent, lesson, connection.wantedSize));
                return;
              }
              // A reconnect that came too late: the learner's work is gone, and they are told.
              stopRetrying();
              connectionRef.current = null;
              eventsRef.current.onDisconnect();
              silence(connection);
              setState({ phase: "closed", closeCode: CloseCode.SessionGone, reason: closeReason[CloseCode.SessionGone], detail: message.message, offer: "restart" });
              return;
            }
            if (!connection.ready && intent.kind === "resume" && message.code === "rate_limited") {
              // The server is busy with this sandbox's reconnects: try again a little later.
              connectionRef.current = null;
              eventsRef.current.onDisconnect();
              silence(connection);
              if (!retryOrGiveUp(connection, ABNORMAL_CLOSURE)) setState(closedState(ABNORMAL_CLOSURE, message, null));
              return;
            }
            const answered = eventsRef.current.onMessage(message) === true;
            if (answered) return;
            connection.lastError = message;
            if (connection.ready) {
              setState((current) => (current.phase === "ready" ? { ...current, notice: message.message } : current));
            }
            return;
          }
          default:
            break;
        }
        eventsRef.current.onMessage(message);
      };

      socket.onclose = (event: CloseEvent) => {
        if (connectionRef.current !== connection) return;
        connectionRef.current = null;
        connection.acks.dispose();
        eventsRef.current.onDisconnect();
        if (event.code === CloseCode.Reset) {
          stopRetrying();
          if (intent.kind === "observe") {
            // The learner's fresh sandbox is starting: watch it once it is there.
            setState({ phase: "connecting" });
            againRef.current = setTimeout(() => {
              againRef.current = null;
              openRef.current(connection.wantedSize, intent);
            }, OBSERVE_AGAIN_MS);
            return;
          }
          // The instructor gave this learner a fresh sandbox: the tab that types starts it now,
          // and says why (another tab of theirs that only watched would take it over).
          if (connection.session) clearStoredSession(lesson, connection.session.sessionId);
          if (connection.role !== "owner") {
            setState({ phase: "closed", closeCode: event.code, reason: closeReason[CloseCode.Reset], detail: null, offer: "restart" });
            return;
          }
          const fresh: Intent = { kind: "start" };
          openRef.current(connection.wantedSize, fresh);
          const opened = connectionRef.current as Connection | null;
          if (opened) opened.notice = closeReason[CloseCode.Reset];
          return;
        }
        if ((connection.ready || retryRef.current) && retryOrGiveUp(connection, event.code)) return;
        stopRetrying();
        const ended = event.code === CloseCode.SessionEnded || event.code === CloseCode.SessionGone || event.code === CloseCode.ServerShutdown;
        if (ended && connection.session) clearStoredSession(lesson, connection.session.sessionId);
        setState(closedState(event.code, connection.lastError, connection.exit));
        // The lab is restarting: the page that typed starts a fresh sandbox by itself once the
        // server answers again (the Reconnect button stays for the impatient).
        if (event.code === CloseCode.ServerShutdown && connection.role === "owner" && intent.kind !== "observe") {
          whenLabIsBack(againRef, Date.now() + RESTART_WAIT_MS, () => {
            openRef.current(connection.wantedSize, { kind: "start" });
            const opened = connectionRef.current as Connection | null;
            if (opened) opened.notice = RESTARTED_NOTICE;
          });
        }
      };
    },
    [lesson, disconnect, retryOrGiveUp, stopRetrying],
  );
  useEffect(() => {
    openRef.current = open;
  }, [open]);

  const connect = useCallback(
    (size: TerminalSize, mode: ConnectMode = "auto") => {
      stopRetrying();
      if (observe) {
        open(size, { kind: "observe", target: observe });
        return;
      }
      if (mode === "new") clearStoredSession(lesson);
      const stored = mode === "auto" ? loadStoredSession(lesson) : null;
      open(size, stored ? { kind: "resume", role: "owner", stored, ifRefused: "start" } : { kind: "start" });
    },
    [lesson, open, stopRetrying, observe],
  );

  const sendInput = useCallback((data: string | Uint8Array<ArrayBuffer>) => {
    const connection = connectionRef.current;
    if (!connection?.ready || connection.role !== "owner" || connection.socket.readyState !== WebSocket.OPEN) return;
    const bytes = typeof data === "string" ? utf8.encode(data) : data;
    // xterm.js hands a whole paste over at once. The server takes frames of at most 64 KiB
    // and 256 KiB of input a second: slice the paste, and refuse one the server would drop.
    if (bytes.length > INPUT_BYTES_PER_SECOND) {
      setState((current) =>
        current.phase === "ready"
          ? { ...current, notice: `That paste is ${Math.ceil(bytes.length / 1024)} KiB; paste at most ${INPUT_BYTES_PER_SECOND / 1024} KiB at a time.` }
          : current,
      );
      return;
    }
    for (let offset = 0; offset < bytes.length; offset += INPUT_FRAME_BYTES) {
      connection.socket.send(bytes.subarray(offset, offset + INPUT_FRAME_BYTES));
    }
  }, []);

  const resize = useCallback((size: TerminalSize) => {
    const connection = connectionRef.current;
    if (!connection || !isValidSize(size)) return;
    connection.wantedSize = size;
    if (connection.ready && connection.role === "owner" && !sameSize(size, connection.ptySize)) {
      connection.ptySize = size;
      sendMessage(connection.socket, { type: "pty.resize", size });
    }
  }, []);

  const markBroken = useCallback(
    (reason: string) => {
      stopRetrying();
      disconnect();
      setState({ phase: "broken", reason });
    },
    [disconnect, stopRetrying],
  );

  const send = useCallback((message: ClientMessage) => {
    const connection = connectionRef.current;
    return connection?.ready === true && sendMessage(connection.socket, message);
  }, []);

  // Unmounting closes the socket; the server keeps the sandbox for its grace period, so coming
  // back to the lesson soon finds it again.
  useEffect(
    () => () => {
      stopRetrying();
      disconnect();
    },
    [disconnect, stopRetrying],
  );

  return { state, connect, sendInput, resize, markBroken, send };
}
