// The peer nslab's WebSocket figures are compared with: what a self-hoster could write in an
// afternoon. One WebSocket per terminal, node-pty spawning `bash --login` on the host (no
// namespaces, no cgroups, no copy of the screen, no readings), speaking nslab's frames so the
// same bench client drives both. Output goes out as binary frames as fast as the pty gives it;
// there is no flow control beyond what ws itself does (which is: buffer without bound).
//
//   PORT=0 node --import tsx bench/peer/server.ts     prints {"port": N} on stdout when listening
//
// It answers session.start with a frame shaped like nslab's session.ready (the fields the
// bench client reads, the rest filled with what a plain host has), and handles pty.resize;
// acks, state.watch and everything else are ignored. Its shells start in $HOME (the bench
// gives it one holding the same startup files a sandbox's shell reads).
import http from "node:http";
import os from "node:os";

import * as pty from "node-pty";
import { WebSocketServer } from "ws";

import { MAX_FRAME_BYTES, PROTOCOL_VERSION, type ServerMessage, WS_PATH, parseClientMessage } from "../../common/protocol";

const server = http.createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, path: WS_PATH, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
let nextId = 0;

wss.on("connection", (ws) => {
  let shell: pty.IPty | null = null;
  ws.on("message", (data, isBinary) => {
    const bytes = data as Buffer;
    if (isBinary) {
      shell?.write(bytes.toString("utf8"));
      return;
    }
    const parsed = parseClientMessage(bytes.toString("utf8"));
    if (!parsed.ok) return;
    const message = parsed.message;
    if (message.type === "session.start" && !shell) {
      const term = pty.spawn("/bin/bash", ["--login"], {
        name: "xterm-256color",
        cols: message.size.cols,
        rows: message.size.rows,
        cwd: os.homedir(),
        env: {
          PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          HOME: os.homedir(),
          USER: "root",
          LOGNAME: "root",
          SHELL: "/bin/bash",
          TERM: "xterm-256color",
          LANG: "C.UTF-8",
        },
      });
      shell = term;
      const ready: ServerMessage = {
        type: "session.ready",
        version: PROTOCOL_VERSION,
        sessionId: (nextId++).toString(16).padStart(16, "0"),
        hostname: os.hostname(),
        hostPid: term.pid,
        cgroupVersion: 1,
        limits: { memoryBytes: os.totalmem(), memorySwapBytes: -1, cpus: os.cpus().length, pids: -1 },
        cgroupFiles: [],
        host: { cpus: os.cpus().length, memoryBytes: os.totalmem(), kernelRelease: os.release() },
        startup: [],
        role: "owner",
        resumed: false,
        size: message.size,
        replayBytes: 0,
        reconnectGraceS: 0,
      };
      ws.send(JSON.stringify(ready));
      term.onData((out) => ws.send(Buffer.from(out, "utf8"), { binary: true }));
      term.onExit(({ exitCode, signal }) => {
        if (ws.readyState === ws.OPEN) {
          ws.send(JSON.stringify({ type: "session.exit", exitCode, signal: signal || null } satisfies ServerMessage));
          ws.close(4000);
        }
        shell = null;
      });
    } else if (message.type === "pty.resize") {
      shell?.resize(message.size.cols, message.size.rows);
    }
  });
  ws.on("close", () => {
    shell?.kill("SIGHUP");
    shell = null;
  });
  ws.on("error", () => ws.terminate());
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
});

const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
