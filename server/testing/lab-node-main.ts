// A lab node as production runs it (server/lab-node.ts, its settings from the environment),
// without Next's pages: what a test starts as a process of its own when it must kill one
// (SIGKILL) or run several side by side. Prints one line of JSON, {"port": N}, once it listens;
// SIGTERM stops it as it stops the server.
import type http from "node:http";

import { loadConfig } from "../config";
import { startLabNode } from "../lab-node";
import { projectRoot } from "../project-root";
import { ShutdownOnSignal } from "../shutdown";

function notFound(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(404);
  res.end();
}

const shutdown = new ShutdownOnSignal();
const node = await startLabNode(loadConfig(process.env, projectRoot), { handleRequest: notFound, dev: false });
process.stdout.write(`${JSON.stringify({ port: node.port })}\n`);
shutdown.ready(() => node.stop());
