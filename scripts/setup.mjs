// Runs at `npm install` (and before `npm start` / `npm test` when something is missing):
// compiles the server and the CLI into dist/, builds the sandbox launcher with the machine's C
// compiler and, as root, the sandbox image.
// Each step says what it needs when it cannot run.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { IMAGE_TOOL_PACKAGES, buildRootfs, hostHasPackage } from "../native/rootfs.mjs";
import { aptInstall } from "./apt.mjs";
import { SERVER_DIST, compileServer, serverBuildIsFresh } from "./build-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const isRoot = process.getuid?.() === 0;
const say = (line) => console.log(`nslab setup: ${line}`);

function which(cmd) {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export const LAUNCHER_CFLAGS = [
  "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wformat=2",
  "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie", "-Wl,-z,relro,-z,now",
];
// Linked statically, and still position-independent (its addresses randomised): every sandbox
// start execs the launcher, and a dynamically linked program spends most of a small one's start
// in the dynamic linker, mapping and relocating libc (on a 2-core VM, 4.2 ms of CPU against
// 1.7 ms static, the same `true` exec'd in each sandbox costing as much again). Falls back to a
// dynamic link where the C library has no static archive (libc6-dev provides it on Debian).
const STATIC_LINK = ["-static-pie"];

/** What a native build was made from besides its sources: the flags, and the static C library
 *  it took in (a C library update must reach a statically linked program, which runs as root). */
function buildStamp(cc, linked) {
  let libc = null;
  if (linked === "static") {
    const archive = spawnSync(cc, ["-print-file-name=libc.a"], { encoding: "utf8" }).stdout?.trim();
    if (archive && path.isAbsolute(archive) && fs.existsSync(archive)) {
      const st = fs.statSync(archive);
      libc = { archive, mtimeMs: st.mtimeMs, size: st.size };
    }
  }
  return { flags: [...LAUNCHER_CFLAGS, ...(linked === "static" ? STATIC_LINK : [])], libc };
}

/** Whether the build is as its stamp says it was made and the static C library it took in is
 *  unchanged (one stat; no compiler is needed to answer). */
function stampHolds(stampFile) {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, "utf8"));
  } catch {
    return false;
  }
  const flags = JSON.stringify(stamp.flags);
  if (flags !== JSON.stringify(LAUNCHER_CFLAGS) && flags !== JSON.stringify([...LAUNCHER_CFLAGS, ...STATIC_LINK])) return false;
  if (!stamp.libc) return true;
  try {
    const st = fs.statSync(stamp.libc.archive);
    return st.mtimeMs === stamp.libc.mtimeMs && st.size === stamp.libc.size;
  } catch {
    return true; // the archive is gone (libc6-dev removed): nothing newer to link in
  }
}

/** build/<name>, compiled from the first of `sources` (the others are headers it includes)
 *  when any of them is newer than it, or its flags or static C library changed. */
function buildNative(name, sources) {
  const out = path.join(root, "build", name);
  const stampFile = `${out}.stamp`;
  const paths = sources.map((f) => path.join(root, f));
  const newest = Math.max(...paths.map((f) => fs.statSync(f).mtimeMs));
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest && stampHolds(stampFile)) return out;
  let cc = process.env.CC ?? which("cc") ?? which("gcc") ?? which("clang");
  if (!cc && aptInstall(["gcc", "libc6-dev"], `${sources[0]} is written in C`, say)) cc = which("cc") ?? which("gcc");
  if (!cc) {
    throw new Error(
      `no C compiler found. ${sources[0]} is built with one:\n` +
        "  Debian/Ubuntu: apt-get install -y gcc libc6-dev\n  then run npm install again (or set CC).",
    );
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const staticBuild = spawnSync(cc, [...LAUNCHER_CFLAGS, ...STATIC_LINK, "-o", out, paths[0]], { encoding: "utf8" });
  let linked = "static";
  if (staticBuild.status !== 0) {
    say(`cannot link ${path.relative(root, out)} statically (${(staticBuild.stderr || staticBuild.error?.message || "").trim().split("\n").at(-1)}); linking it dynamically`);
    execFileSync(cc, [...LAUNCHER_CFLAGS, "-o", out, paths[0]], { stdio: "inherit" });
    linked = "dynamic";
  }
  fs.writeFileSync(stampFile, `${JSON.stringify(buildStamp(cc, linked))}\n`);
  say(`built ${path.relative(root, out)} with ${cc}${linked === "static" ? " (static)" : ""}`);
  return out;
}

export function buildLauncher() {
  return buildNative("nslab-launcher", ["native/launcher.c", "native/seccomp.h", "native/layer.h"]);
}

/** The terminal spawner (native/spawner.c): the server starts terminals through it rather
 *  than by forking itself. Without it the server falls back to node-pty and says so. */
export function buildSpawner() {
  return buildNative("nslab-spawner", ["native/spawner.c", "native/layer.h"]);
}

export function ensureImage() {
  const dest = process.env.NSLAB_ROOTFS ?? "/var/lib/nslab/rootfs";
  if (!isRoot) {
    say(`not root: skipped the sandbox image (${dest}); run as root: node native/rootfs.mjs`);
    return null;
  }
  const missing = IMAGE_TOOL_PACKAGES.filter((p) => !hostHasPackage(p));
  if (missing.length) aptInstall(missing, "tools the lessons use inside the sandbox", say);
  return buildRootfs(dest, { log: say });
}

/** The server and the CLI as JavaScript in dist/ (scripts/build-server.mjs), rebuilt when a
 *  source is newer. Null while there are no sources yet: the Dockerfile runs `npm ci` before
 *  it copies server/ in, and this again after. */
export function buildServer() {
  if (!fs.existsSync(path.join(root, "server", "main.ts"))) {
    say("server/ is not here yet: skipped compiling it (the next setup does)");
    return null;
  }
  if (serverBuildIsFresh()) return SERVER_DIST;
  compileServer();
  say(`compiled server/ into ${path.relative(root, SERVER_DIST)}/`);
  return SERVER_DIST;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Each step named before it runs: `npm install` shows this script's output as it comes
  // (.npmrc's foreground-scripts), and some steps take a while on a small machine.
  const steps = [
    ["compile server/ and the CLI into dist/", buildServer],
    ["build the sandbox launcher (native/launcher.c)", buildLauncher],
    ["build the terminal spawner (native/spawner.c)", buildSpawner],
    ["build the sandbox image from this host's packages", ensureImage],
  ];
  try {
    for (const [index, [what, run]] of steps.entries()) {
      say(`step ${index + 1}/${steps.length}: ${what}`);
      run();
    }
  } catch (err) {
    console.error(`nslab setup failed: ${err.message}`);
    process.exit(1);
  }
}
