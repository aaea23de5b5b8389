// The page's one WebSocket to the lab (/ws on the page's own origin), and the protocol spoken
// on it: session.start first, keystrokes up and pty output down as binary frames, resizes and
// flow-control acks as JSON text frames. Every text frame from the server is parsed with the
// shared schema before the page acts on it.
//
// The socket belongs to the LabProvider, the one user of this hook: it closes when the provider
// unmounts, and the server ends a session whose socket closes. React's StrictMode mounts,
// unmounts and mounts again in development; the first mount's cleanup closes whatever it
// opened (usually nothing yet, as the terminal code is still loading), so only one session
// is ever live per page and dev leaves no sandbox behind.
//
// This hook speaks the terminal's part of the protocol itself (start, ready, exit, acks,
// resizes) and hands every other parsed frame to `onMessage`: kernel state, limits and
// progress are the provider's business.

import { useCallback, useEffect, useRef, useState } from "react";

import {
  ClientMessage,
  CloseCode,
  INPUT_BYTES_PER_SECOND,
  INPUT_FRAME_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
  type TerminalSize,
  WS_PATH,
  parseServerMessage,
} from "../../common/protocol";
import { AckBatcher } from "../terminal/ack-batcher";
import { ABNORMAL_CLOSURE, type LabError, type LabState, type SessionExit, closedState } from "../terminal/lab-state";

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

export type LabSocket = {
  state: LabState;
  /** Opens a new session with a terminal of this size, closing any current one first. */
  connect(size: TerminalSize): void;
  /** Keystrokes or pasted text (a string, sent as UTF-8) or raw bytes. Dropped unless the session is ready. */
  sendInput(data: string | Uint8Array<ArrayBuffer>): void;
  /** The terminal now has this size; sizes outside the protocol's bounds are not sent. */
  resize(size: TerminalSize): void;
  /** The terminal cannot run at all; show why instead of a connection state. */
  markBroken(reason: string): void;
  /** Sends a control message on the live session; false when there is none to send it on. */
  send(message: ClientMessage): boolean;
};

/** Everything that belongs to one socket; a reconnect makes a new one. */
type Connection = {
  socket: WebSocket;
  acks: AckBatcher;
  ready: boolean;
  /** The size the server's pty has, as far as this page has told it. */
  ptySize: TerminalSize;
  /** The terminal's latest size, sent once the session is ready if it differs. */
  wantedSize: TerminalSize;
  lastError: LabError | null;
  exit: SessionExit | null;
};

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

export function useLabSocket(lesson: string, events: LabSocketEvents): LabSocket {
  const [state, setState] = useState<LabState>({ phase: "loading" });
  const connectionRef = useRef<Connection | null>(null);

  // The latest handlers, read when a frame arrives, so new handlers never need a new socket.
  const eventsRef = useRef(events);
  useEffect(() => {
    eventsRef.current = events;
  }, [events]);

  const disconnect = useCallback(() => {
    const connection = connectionRef.current;
    connectionRef.current = null;
    if (!connection) return;
    connection.acks.dispose();
    eventsRef.current.onDisconnect();
    // A close the page asked for is not news for the status line, so stop listening first.
    connection.socket.onopen = null;
    connection.socket.onmessage = null;
    connection.socket.onclose = null;
    connection.socket.close(CloseCode.Normal);
  }, []);

  const connect = useCallback(
    (size: TerminalSize) => {
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
        ready: false,
        ptySize: size,
        wantedSize: size,
        lastError: null,
        exit: null,
      };
      connectionRef.current = connection;
      setState({ phase: "connecting" });

      socket.onopen = () => {
        sendMessage(socket, { type: "session.start", version: PROTOCOL_VERSION, lesson, size });
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
          case "session.ready":
            connection.ready = true;
            // The terminal may have been resized while the sandbox was starting.
            if (!sameSize(connection.wantedSize, connection.ptySize)) {
              connection.ptySize = connection.wantedSize;
              sendMessage(socket, { type: "pty.resize", size: connection.wantedSize });
            }
            // The provider learns of the session before the page renders it as ready, so that
            // whatever reacts to "ready" finds the session's limits already in place.
            eventsRef.current.onMessage(message);
            setState({ phase: "ready", session: message, notice: null });
            return;
          case "session.exit":
            connection.exit = message;
            break;
          case "error": {
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
        setState(closedState(event.code, connection.lastError, connection.exit));
      };
    },
    [lesson, disconnect],
  );

  const sendInput = useCallback((data: string | Uint8Array<ArrayBuffer>) => {
    const connection = connectionRef.current;
    if (!connection?.ready || connection.socket.readyState !== WebSocket.OPEN) return;
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
    if (connection.ready && !sameSize(size, connection.ptySize)) {
      connection.ptySize = size;
      sendMessage(connection.socket, { type: "pty.resize", size });
    }
  }, []);

  const markBroken = useCallback(
    (reason: string) => {
      disconnect();
      setState({ phase: "broken", reason });
    },
    [disconnect],
  );

  const send = useCallback((message: ClientMessage) => {
    const connection = connectionRef.current;
    return connection?.ready === true && sendMessage(connection.socket, message);
  }, []);

  // Unmounting ends the session: the server tears a sandbox down when its socket closes.
  useEffect(() => disconnect, [disconnect]);

  return { state, connect, sendInput, resize, markBroken, send };
}
