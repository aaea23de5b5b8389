#!/usr/bin/env node
// The nslab command: `nslab serve`, `nslab doctor`, `nslab run -- CMD`. The CLI is written in
// TypeScript (server/cli/) and runs compiled, from dist/cli.mjs: `npm install` builds it
// (scripts/build-server.mjs), so a start costs Node and the modules its command needs, and no
// TypeScript compiler.
//
// In a checkout whose sources changed since that build, it builds again first, without a word
// (stdout and stderr of `nslab run` are the command's), instead of running the sources through
// tsx: there is one way the CLI runs, an edit is never run stale, and no path of it loads tsx.
// A build takes about half a second, once; a compile error stops here with esbuild's message.
import module from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

// Node 22 and later keep compiled code between runs (no-op on Node 20, which has no cache);
// before anything else of nslab is loaded, hence the dynamic import below.
module.enableCompileCache?.();

const { SERVER_DIST, compileServer, serverBuildIsFresh } = await import("../scripts/build-server.mjs");

if (!serverBuildIsFresh()) {
  try {
    compileServer();
  } catch (err) {
    process.stderr.write(`nslab: the CLI does not compile: ${err.message}\n`);
    process.exit(125);
  }
}
// Source maps stay off but for `nslab serve` (server/cli/main.ts turns them on there): with them
// on, Node reads and indexes the map of every module as it loads, about 10 ms of each `nslab
// run`, whose failures are printed as messages, not stack traces. A stack trace of the CLI
// names dist/ and its lines (esbuild heads each module's code there with its .ts file's name);
// NODE_OPTIONS=--enable-source-maps maps it to server/**/*.ts.
await import(pathToFileURL(path.join(SERVER_DIST, "cli.mjs")).href);
