// Compiles the server and the CLI (server/, and the common/ it imports) from TypeScript into
// JavaScript in dist/, so that neither carries a TypeScript compiler at run time: under tsx,
// every `nslab run` paid for loading and running the compiler before the sandbox's first step.
//
//   dist/server.mjs          server/main.ts        (npm start runs it)
//   dist/cli.mjs             server/cli/main.ts    (bin/nslab.mjs runs it)
//   dist/<name>-<hash>.mjs   code they share, and what the CLI imports only for one command
//   dist/mirror-worker.mjs   server/sessions/mirror-worker.mjs, copied as it is
//
// esbuild bundles our own modules and leaves every package in node_modules an import, resolved
// from dist/ as from the sources (native addons, Next and its own files stay where npm put
// them). Code splitting keeps `nslab run` from loading what only the server uses (MDX, SQLite,
// ws, the mirror): each command loads its own chunk. Every file lands in dist/ itself, no deeper:
// a path made from import.meta.url (the mirror worker's, terminal-mirror.ts) then names the
// same neighbour from whichever output holds that code; the project root is found by walking
// up (server/project-root.ts), so it is right from any depth.
//
// Run by scripts/setup.mjs (npm install) and scripts/start.mjs when a source is newer than the
// build, and by bin/nslab.mjs in a checkout whose sources changed since. `node
// scripts/build-server.mjs [OUTDIR]` builds unconditionally (OUTDIR, default dist/, must lie
// inside the project, where the imports of node_modules/ resolve).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const SERVER_DIST = path.join(root, "dist");

const ENTRY_POINTS = { server: "server/main.ts", cli: "server/cli/main.ts" };
const MIRROR_WORKER = "server/sessions/mirror-worker.mjs";

/** The files a run starts from: if these are there and newer than every source, it is built. */
const ENTRY_OUTPUTS = [...Object.keys(ENTRY_POINTS).map((name) => `${name}.mjs`), path.basename(MIRROR_WORKER)];

/** Packages left as imports: every dependency but zod (see the build's options). */
function externalPackages() {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const names = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})].filter((name) => name !== "zod");
  return names.flatMap((name) => [name, `${name}/*`]);
}

/** The sources the last build read (esbuild's list), relative to the project root. */
const INPUTS_FILE = "inputs.json";

/** Files of an earlier build are removed once they are this old: a CLI that started from that
 *  build imports the chunk of its command within milliseconds, never a minute later. */
const STALE_OUTPUT_MS = 60_000;

/** True when `outdir` holds a build at least as new as every source it was built from: the
 *  modules of server/ and common/ it bundled, the mirror worker, and this script's options.
 *  The list is the one esbuild read, not a walk of the directories: bin/nslab.mjs asks on every
 *  start, and stats some sixty files instead of every fixture. A file the build never read
 *  (a test) cannot make it stale; a new module makes it stale through the one that imports it,
 *  and a module gone does by its absence. */
export function serverBuildIsFresh(outdir = SERVER_DIST) {
  try {
    const { inputs } = JSON.parse(fs.readFileSync(path.join(outdir, INPUTS_FILE), "utf8"));
    // Joined as text: esbuild's inputs are normalized relative paths, and path.join, run some
    // eighty times on every start before it is optimized, cost 0.6 ms of it.
    const sources = [fileURLToPath(import.meta.url), ...inputs.map((input) => `${root}/${input}`)];
    const newest = Math.max(...sources.map((file) => fs.statSync(file).mtimeMs));
    return ENTRY_OUTPUTS.every((name) => fs.statSync(path.join(outdir, name)).mtimeMs >= newest);
  } catch {
    return false; // not built, or a source of the last build is gone
  }
}

/** Writes a file by renaming a complete copy over it, so that a CLI starting while another
 *  builds (two test workers, a developer's second shell) never reads half a module. The file
 *  is dated when the build started: a source saved during the build is then newer than it,
 *  and the next run builds again. */
function writeWhole(file, contents, startedMs) {
  const partial = `${file}.${process.pid}.partial`;
  fs.writeFileSync(partial, contents);
  fs.utimesSync(partial, startedMs / 1000, startedMs / 1000);
  fs.renameSync(partial, file);
}

/** Builds into `outdir` (default dist/) and returns the paths written. Throws with esbuild's
 *  messages when a source does not compile. */
export function compileServer(outdir = SERVER_DIST) {
  // Inside the project, where node_modules/ resolves, and never the project itself: old
  // outputs in it are removed.
  if (outdir === root || !outdir.startsWith(`${root}${path.sep}`)) throw new Error(`${outdir}: the output directory must be a directory inside ${root}`);
  const startedMs = Date.now();
  // Loaded here, not at the top: bin/nslab.mjs imports this module on every start to check
  // freshness, and only a stale build needs the compiler. Without worker threads, esbuild's
  // sync calls run its binary once each and wait for it; with them, a thread and an esbuild
  // process would stay behind in the CLI or npm start for the rest of their life.
  const threads = process.env.ESBUILD_WORKER_THREADS;
  process.env.ESBUILD_WORKER_THREADS = "0";
  const esbuild = createRequire(import.meta.url)("esbuild");
  if (threads === undefined) delete process.env.ESBUILD_WORKER_THREADS;
  else process.env.ESBUILD_WORKER_THREADS = threads;
  const options = {
    absWorkingDir: root,
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    chunkNames: "[name]-[hash]",
    platform: "node",
    format: "esm",
    target: "node20",
    // Every package stays an import but zod, which is bundled so that only what is used is
    // loaded: `nslab run` uses zod's functional API (zod/mini), whose package entry imports
    // every locale zod has; tree-shaken, its modules load in a fraction of that.
    external: externalPackages(),
    // Stack traces name the TypeScript file and line (the server and bin/nslab.mjs turn
    // source maps on); the sources are beside the build, so the maps do not copy them.
    sourcesContent: false,
    sourcemap: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  };
  // One build per entry point: chunks shared by the server and the CLI would hold every module
  // either reaches (zod's chained API and all its locales, say), and `nslab run` would load them.
  // Built apart, each loads only what it uses; `nslab serve` then has its own copy of the server.
  const results = Object.entries(ENTRY_POINTS).map(([name, entry]) => esbuild.buildSync({ ...options, entryPoints: { [name]: entry } }));
  const result = {
    warnings: results.flatMap((r) => r.warnings),
    outputFiles: results.flatMap((r) => r.outputFiles),
    metafile: { inputs: Object.assign({}, ...results.map((r) => r.metafile.inputs)) },
  };
  for (const warning of result.warnings) console.error(`nslab build: ${esbuild.formatMessagesSync([warning], { kind: "warning" }).join("")}`);
  // esbuild turns a require() in ESM output into a stub that throws when it runs; none of our
  // modules calls require today, and one that does needs a createRequire banner here first.
  const requiring = result.outputFiles.find((f) => f.path.endsWith(".mjs") && f.text.includes("__require("));
  if (requiring) throw new Error(`${path.relative(root, requiring.path)} calls require(); give the build a createRequire banner`);

  fs.mkdirSync(outdir, { recursive: true });
  // The entry points last: until they are renamed into place, a CLI that starts runs the
  // previous build, whose chunks are all still there.
  const isEntry = (file) => ENTRY_OUTPUTS.includes(path.basename(file));
  const outputs = [...result.outputFiles].sort((a, b) => Number(isEntry(a.path)) - Number(isEntry(b.path)));
  const worker = path.join(outdir, path.basename(MIRROR_WORKER));
  const inputs = path.join(outdir, INPUTS_FILE);
  writeWhole(worker, fs.readFileSync(path.join(root, MIRROR_WORKER)), startedMs);
  // Sources of our own, not every file of every package read. A package's path may lie outside
  // the project (../…/node_modules/zod/… where node_modules is a link to another checkout's),
  // so it is told by its node_modules segment, not by where it starts.
  const ownInputs = Object.keys(result.metafile.inputs).filter((input) => !input.split("/").includes("node_modules"));
  // package.json (which names the packages left as imports) and the lock (the versions, zod's
  // bundled among them) are inputs too.
  writeWhole(inputs, `${JSON.stringify({ inputs: [...ownInputs, MIRROR_WORKER, "package.json", "package-lock.json"] }, null, 1)}\n`, startedMs);
  for (const file of outputs) writeWhole(file.path, file.contents, startedMs);

  const written = new Set([worker, inputs, ...outputs.map((f) => f.path)]);
  for (const entry of fs.readdirSync(outdir, { withFileTypes: true })) {
    const file = path.join(outdir, entry.name);
    // Only what a build writes is ever removed: older chunks, their maps, half-written files.
    if (!entry.isFile() || written.has(file) || !/\.(mjs|mjs\.map|partial)$/.test(entry.name)) continue;
    if (startedMs - fs.statSync(file).mtimeMs > STALE_OUTPUT_MS) fs.rmSync(file, { force: true });
  }
  return [...written];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const outdir = process.argv[2] ? path.resolve(process.argv[2]) : SERVER_DIST;
    const files = compileServer(outdir);
    console.log(`nslab build: wrote ${files.length} files to ${path.relative(root, outdir)}/`);
  } catch (err) {
    console.error(`nslab build failed: ${err.message}`);
    process.exit(1);
  }
}
