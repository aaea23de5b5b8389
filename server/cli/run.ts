// `nslab run`: one command in a fresh sandbox, built exactly as a lab session's, with the
// caller's stdio passed through (a pty when stdin is a terminal) and the command's exit status.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isatty } from "node:tty";

import { loadConfig } from "../config";
import { checkHostFeatures, unsupportedReason } from "../kernel/features";
import { projectVersion } from "../project-root";
import { hostCgroupDriver, hostCgroupLayout } from "../sandbox/cgroup";
import { SandboxHost, serverHostOptions } from "../sandbox/host";
import { SandboxStartFailure } from "../sandbox/sandbox";
import { synchronousSetup } from "../sandbox/setup-fs";
import { RUN_USAGE, parseRunArgs } from "./run-args";

const EXIT_NSLAB = 125;

/** Make process.stdin, stdout and stderr now: Node makes each on its first use. */
function makeStandardStreams(): void {
  void [process.stdin, process.stdout, process.stderr];
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return EXIT_NSLAB;
}

export async function runCommand(argv: string[], projectRoot: string): Promise<number> {
  const parsed = parseRunArgs(argv, { cpus: os.cpus().length, memoryBytes: os.totalmem() });
  if (parsed.ok === "help") {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (parsed.ok === "version") {
    process.stdout.write(`nslab ${projectVersion}\n`);
    return 0;
  }
  if (!parsed.ok) return fail(parsed.error);
  const { limits, command, hostname, timeline } = parsed.options;

  let config;
  try {
    config = loadConfig(process.env, projectRoot);
  } catch (err) {
    return fail(`nslab run: ${(err as Error).message}`);
  }
  // Read once, for the checks and the driver both.
  const layout = hostCgroupLayout();
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS, cgroupParent: config.NSLAB_CGROUP_PARENT }, layout);
  if (!features.ok) return fail(`nslab run: ${unsupportedReason(features)} Run nslab doctor for fixes.`);
  const found = hostCgroupDriver(config.NSLAB_CGROUP_PARENT, layout);
  if (!("driver" in found)) return fail(`nslab run: ${found.reason}`);
  // The server's sandbox, made the way one short-lived process makes one.
  const host = new SandboxHost(found.driver, {
    ...serverHostOptions(config),
    // A single start: nothing is worth preparing ahead of it.
    ready: undefined,
    // One sandbox from a small, short-lived process: node-pty's fork of it is cheap, and a
    // spawner would be one more process to start for nothing.
    spawnerPath: null,
    // Nothing else waits on this process's event loop: the set-up's file calls are made at
    // once rather than each on the thread pool.
    setupFs: synchronousSetup,
  });

  // Asked of the descriptors, not of process.stdin and process.stdout: those are streams made
  // on first use, and without a terminal they are made below, while the launcher works.
  const tty = isatty(0) && isatty(1);
  let sandbox;
  try {
    const starting = host.start({
      limits,
      command,
      cols: (tty && process.stdout.columns) || 80,
      rows: (tty && process.stdout.rows) || 24,
      stdio: tty ? "pty" : "pipes",
      ...(hostname ? { hostname } : {}),
      ...(tty && process.env.TERM ? { term: process.env.TERM } : {}),
      env: tty && process.env.TERM ? { TERM: process.env.TERM } : {},
    });
    // The launcher is spawned within this turn of the event loop (the set-up's calls are made
    // at once) and builds the sandbox in a process of its own, on another CPU where there is
    // one. Meanwhile the streams the command's input and output are copied through are made
    // (2–3 ms of this process's time), rather than once it has started.
    if (!tty) setImmediate(makeStandardStreams);
    sandbox = await starting;
  } catch (err) {
    return fail(`nslab run: ${err instanceof SandboxStartFailure ? err.failure.message : (err as Error).message}`);
  }

  // The command decides what a Ctrl-C means; nslab itself waits for it to end.
  const forward = (signal: NodeJS.Signals) => {
    if (signal !== "SIGINT") void sandbox.destroy();
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);

  if (sandbox.pipes) {
    const { stdin, stdout, stderr } = sandbox.pipes;
    process.stdin.pipe(stdin);
    // The command may exit without reading all of its input.
    stdin.on("error", () => undefined);
    stdout.pipe(process.stdout);
    stderr.pipe(process.stderr);
  }
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.on("data", (data: Buffer) => sandbox.write(data));
    sandbox.onData((chunk) => process.stdout.write(chunk));
    process.stdout.on("resize", () => sandbox.resize(process.stdout.columns, process.stdout.rows));
  }

  const { exitCode, signal } = await new Promise<{ exitCode: number | null; signal: number | null }>((resolve) => {
    sandbox.onExit((info) => {
      if (timeline) {
        try {
          fs.writeFileSync(path.resolve(timeline), sandbox.statusText());
        } catch (err) {
          process.stderr.write(`nslab run: --timeline ${timeline}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
        }
      }
      resolve(info);
    });
  });
  await sandbox.destroy();
  if (sandbox.pipes) {
    // Everything the command wrote is copied out before nslab exits: the streams end once the
    // last sandbox process holding them is gone, which destroy() has made sure of.
    const { stdout, stderr } = sandbox.pipes;
    await Promise.all([stdout, stderr].map((stream) => new Promise<void>((resolve) => {
      if ((stream as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) resolve();
      else stream.once("end", () => resolve());
    })));
  }
  if (sandbox.endReason) process.stderr.write(`nslab run: ${sandbox.endReason}\n`);
  if (tty) process.stdin.setRawMode(false);
  process.stdin.unpipe();
  process.stdin.pause();
  if (exitCode !== null && exitCode !== undefined && !signal) return exitCode;
  return signal ? 128 + signal : EXIT_NSLAB;
}
