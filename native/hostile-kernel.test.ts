// The hostile suite, kernel resources that every sandbox of the host shares and the launcher's
// own robustness: socket buffers against the memory limit, the pty pool, what CAP_NET_ADMIN
// reaches through netlink, the seccomp program as a whole, the launcher's wait for signals and
// its step report. Through `nslab run`, exactly as a lab session builds a sandbox; the harness
// checks after each test that nothing of the session is left and the host is unchanged.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { V1_SOCKET_FILE, v1SocketBytes } from "../server/sandbox/cgroup/v1";
import { PTYS_PER_SANDBOX } from "../server/sandbox/launcher-args";
import { LAUNCHER, PROJECT_ROOT } from "../server/testing/kernel";
import {
  INSTALL_PROBE, MiB, NSLAB, PREAMBLE, PROBE, checkHostAfterEachTest, itOnV1WithProbe, itWithProbe, leftoversOf, lines,
  nslabRun, readOr, runsOfThisTest, sandboxSh, unavailable,
} from "./hostile-harness";
import type { RunResult } from "./hostile-harness";

/** Holds sockets open (the probe waits for EOF on stdin) while the cgroup's counters are read:
 *  the probe's line is in /tmp/out once its sockets are full. */
function holdSockets(kind: "tcp" | "udp", pairs: number): string {
  return `rm -f /tmp/hold /tmp/out; mkfifo /tmp/hold
    /tmp/probe sockbufs ${kind} ${pairs} < /tmp/hold > /tmp/out & p=$!
    exec 7>/tmp/hold
    until [ -s /tmp/out ]; do :; done
    cat /tmp/out
    echo "usage $(cat /sys/fs/cgroup/memory/memory.kmem.tcp.usage_in_bytes)"
    exec 7>&-
    wait $p
`;
}

/** The launcher nslab run started (its child), once it exists. */
async function launcherOf(nslabPid: number): Promise<number> {
  for (;;) {
    for (const task of fs.readdirSync(`/proc/${nslabPid}/task`)) {
      for (const pid of readOr(`/proc/${nslabPid}/task/${task}/children`).trim().split(" ").filter(Boolean).map(Number)) {
        try {
          if (fs.readlinkSync(`/proc/${pid}/exe`) === LAUNCHER) return pid;
        } catch {
          // gone already, or not ours to read
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `nslab run -- sh -c SCRIPT`, and `signal` sent to its launcher as soon as the script has
 *  printed `ready`. */
function runAndSignalLauncher(script: string, signal: NodeJS.Signals): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NSLAB, "run", "--", "sh", "-c", PREAMBLE + script], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let sent = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (!sent && /^ready$/m.test(stdout)) {
        sent = true;
        launcherOf(child.pid ?? 0).then((pid) => process.kill(pid, signal), reject);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("close", (status, sig) => {
      clearTimeout(timer);
      const session = /^@session (lab-[0-9a-f]{6}) (\d+)$/m.exec(stdout);
      const result: RunResult = {
        status, signal: sig, timedOut: false, stdout: stdout.replace(/^@session .*\n/m, ""), stderr,
        hostname: session?.[1] ?? null, uidBase: session ? Number(session[2]) : null,
      };
      runsOfThisTest.push(result);
      resolve(result);
    });
  });
}

describe.skipIf(unavailable !== null)(`a learner exhausting what sandboxes share, and the launcher's own robustness${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  checkHostAfterEachTest();

  // --- Socket memory ---------------------------------------------------------------------------

  itOnV1WithProbe("TCP and UDP buffers stop at the session's socket share (memory.kmem.tcp) under --memory 32m, whatever tcp_rmem the learner sets", async () => {
    // Without the share, 40 pairs held hundreds of MiB of TCP and 80 MiB of UDP while the
    // memory cgroup counted 2 MiB: v1 charges socket buffers to a counter of their own.
    const share = v1SocketBytes(32 * MiB);
    const run = await sandboxSh(
      `${INSTALL_PROBE}cat /sys/fs/cgroup/memory/${V1_SOCKET_FILE}
       sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864" net.ipv4.tcp_wmem="4096 16384 67108864" && echo "tcp_rmem raised"
       echo 67108864 > /sys/fs/cgroup/memory/${V1_SOCKET_FILE} 2>/dev/null || echo "the share cannot be raised"
       ${holdSockets("tcp", 40)}
       ${holdSockets("udp", 40)}`,
      { flags: ["--memory", "32m"], stdin: PROBE ?? undefined, timeoutMs: 60_000 },
    );
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out.slice(0, 3)).toEqual([String(share), "tcp_rmem raised", "the share cannot be raised"]);
    const held = (line: string | undefined) => Number(/held (\d+) bytes/.exec(line ?? "")?.[1] ?? NaN);
    const usage = (line: string | undefined) => Number(/^usage (\d+)$/.exec(line ?? "")?.[1] ?? NaN);
    expect(out[3]).toMatch(/^sockbufs tcp: 40 pairs; held \d+ bytes; open: ok; last send: Resource temporarily unavailable$/);
    expect(out[5]).toMatch(/^sockbufs udp: 40 pairs; held \d+ bytes; open: ok; last send: ok$/);
    // The kernel lets a charge through past the limit now and then (an ACK, a batch per CPU),
    // so the bound is the share and a margin, far below what the sockets would otherwise hold.
    for (const line of [out[3], out[5]]) {
      expect(held(line), line).toBeGreaterThan(share / 2);
      expect(held(line), line).toBeLessThan(share * 1.25);
    }
    for (const line of [out[4], out[6]]) expect(usage(line), line).toBeLessThan(share * 1.25);
    expect(leftoversOf(run)).toEqual([]);
  }, 90_000);

  itOnV1WithProbe("a process moved into a child cgroup of the learner's own still has its socket buffers counted against the session's share", async () => {
    // A child memory cgroup starts with the socket counter off; the server turns it on as soon
    // as it sees the child (activateSocketAccounting), and the child's charges go up to the
    // session's counter. Without that, 40 UDP pairs in the child held ~80 MiB, charged nowhere.
    const share = v1SocketBytes(32 * MiB);
    const run = await sandboxSh(
      `${INSTALL_PROBE}mkdir /sys/fs/cgroup/memory/kid
       echo $$ > /sys/fs/cgroup/memory/kid/cgroup.procs
       # The server sees the new cgroup through inotify within milliseconds; a second is ample.
       sleep 1
       ${holdSockets("udp", 40)}
       echo "session usage $(cat /sys/fs/cgroup/memory/memory.kmem.tcp.usage_in_bytes)"`,
      { flags: ["--memory", "32m"], stdin: PROBE ?? undefined, timeoutMs: 60_000 },
    );
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toMatch(/^sockbufs udp: 40 pairs; held \d+ bytes; open: ok; last send: ok$/);
    const held = Number(/held (\d+) bytes/.exec(out[0] ?? "")?.[1] ?? NaN);
    expect(held).toBeLessThan(share * 1.25);
    expect(leftoversOf(run)).toEqual([]);
  }, 90_000);

  // --- The pty pool ----------------------------------------------------------------------------

  itWithProbe(`opening /dev/ptmx stops at the sandbox's devpts max= (${PTYS_PER_SANDBOX}) with ENOSPC`, async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe ptys ${PTYS_PER_SANDBOX + 16}; grep -o 'devpts devpts [^ ]*' /proc/self/mountinfo`, {
      stdin: PROBE ?? undefined,
    });
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe(`ptys: opened ${PTYS_PER_SANDBOX}; open /dev/ptmx: No space left on device`);
    expect(out[1]).toContain(`max=${PTYS_PER_SANDBOX}`);
    expect(leftoversOf(run)).toEqual([]);
  });

  // --- What CAP_NET_ADMIN reaches, and the seccomp program --------------------------------------

  itWithProbe("netlink is an allow-list: rtnetlink and sock_diag open; xfrm, generic, netfilter and the rest are refused; audit answers as absent; PF_KEY is refused", async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe netlink`, { stdin: PROBE ?? undefined });
    expect(run.status).toBe(0);
    const denied = "Operation not permitted";
    expect(lines(run.stdout)).toEqual([
      "socket NETLINK_ROUTE: ok",
      "socket NETLINK_SOCK_DIAG: ok",
      `socket NETLINK_XFRM: ${denied}`,
      `socket NETLINK_GENERIC: ${denied}`,
      "socket NETLINK_AUDIT: Protocol not supported", // PAM and libaudit carry on; EPERM would stop a login
      `socket NETLINK_NETFILTER: ${denied}`,
      `socket NETLINK_KOBJECT_UEVENT: ${denied}`,
      `socket NETLINK_SELINUX: ${denied}`,
      `socket NETLINK_CONNECTOR: ${denied}`,
      `socket NETLINK_FIB_LOOKUP: ${denied}`,
      `socket NETLINK_ISCSI: ${denied}`,
      `socket NETLINK_SCSITRANSPORT: ${denied}`,
      `socket NETLINK_RDMA: ${denied}`,
      `socket NETLINK_CRYPTO: ${denied}`,
      `socket NETLINK_NFLOG: ${denied}`,
      `socket NETLINK_IP6_FW: ${denied}`,
      `socket NETLINK_DNRTMSG: ${denied}`,
      `socket NETLINK_ECRYPTFS: ${denied}`,
      `socket NETLINK_SMC: ${denied}`,
      `socket NETLINK_USERSOCK: ${denied}`,
      `socket NETLINK_FIREWALL: ${denied}`,
      `socket NETLINK_XFRM SOCK_DGRAM: ${denied}`,
      `socket AF_KEY: ${denied}`,
      `socket NETLINK protocol 31: ${denied}`,
      `socketpair AF_NETLINK NETLINK_XFRM: ${denied}`,
    ]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itWithProbe("every rule of the seccomp program still holds, and what it lets through still works", async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe syscalls`, { stdin: PROBE ?? undefined });
    expect(run.status).toBe(0);
    const answers = new Map(lines(run.stdout).map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]));
    const denied = "Operation not permitted";
    for (const what of ["io_uring_setup", "bpf", "keyctl", "userfaultfd", "perf_event_open", "open_by_handle_at", "ioctl TIOCSTI", "ioctl TIOCSETD",
      "socket AF_PACKET", "socket AF_INET SOCK_RAW", "socket AF_INET6 SOCK_RAW", "socket AF_INET SOCK_PACKET", "socket AF_VSOCK", "socket AF_ALG",
      "socket NETLINK_NETFILTER", ...(process.arch === "x64" ? ["x32 getpid"] : [])]) {
      expect(answers.get(what), what).toBe(denied);
    }
    expect(answers.get("fsopen")).toBe("Function not implemented");
    for (const what of ["socket NETLINK_ROUTE", "socket AF_INET SOCK_STREAM", "socket AF_INET6 SOCK_DGRAM", "socket AF_UNIX"]) expect(answers.get(what), what).toBe("ok");
    expect(leftoversOf(run)).toEqual([]);
  });

  it("the seccomp assembler refuses a jump to a label never placed, one behind it, and one out of a jump's reach", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-seccomp-"));
    try {
      const source = path.join(dir, "t.c");
      fs.writeFileSync(source, `#define _GNU_SOURCE
#include <stdio.h>
#include "${path.join(PROJECT_ROOT, "native", "seccomp.h")}"
static void start(struct sec_prog *p) { memset(p, 0, sizeof *p); for (int i = 0; i < SEC_LABELS; i++) p->at[i] = -1; }
int main(void) {
  struct sec_prog p;
  start(&p); sec_load_nr(&p); sec_if_eq(&p, 1, SEC_L_DENY, SEC_NEXT); sec_ret(&p, SECCOMP_RET_ALLOW);
  sec_label(&p, SEC_L_DENY); sec_ret(&p, SEC_ERRNO(EPERM));
  printf("placed: %s\\n", sec_resolve(&p) ? "refused" : "resolved");
  printf("offset: %u\\n", p.insn[1].jt);
  start(&p); sec_load_nr(&p); sec_if_eq(&p, 1, SEC_L_DENY, SEC_NEXT); sec_ret(&p, SECCOMP_RET_ALLOW);
  printf("never placed: %s\\n", sec_resolve(&p) ? "refused" : "resolved");
  start(&p); sec_label(&p, SEC_L_DENY); sec_load_nr(&p); sec_if_eq(&p, 1, SEC_L_DENY, SEC_NEXT); sec_ret(&p, SECCOMP_RET_ALLOW);
  printf("behind: %s\\n", sec_resolve(&p) ? "refused" : "resolved");
  start(&p); sec_load_nr(&p); sec_if_eq(&p, 1, SEC_L_DENY, SEC_NEXT);
  for (int i = 0; i < 300; i++) sec_if_eq(&p, 2, SEC_NEXT, SEC_NEXT);
  sec_label(&p, SEC_L_DENY); sec_ret(&p, SECCOMP_RET_ALLOW);
  printf("out of reach: %s\\n", sec_resolve(&p) ? "refused" : "resolved");
  return 0;
}
`);
      const binary = path.join(dir, "t");
      execFileSync(process.env.CC ?? "cc", ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", "-o", binary, source], { stdio: "pipe" });
      expect(lines(execFileSync(binary, { encoding: "utf8" }))).toEqual([
        "placed: resolved",
        "offset: 1", // over the ALLOW return between the jump and its label
        "never placed: refused",
        "behind: refused",
        "out of reach: refused",
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // --- The launcher's own robustness -----------------------------------------------------------

  it("SIGTERM to the launcher at any moment after the start ends the sandbox; SIGUSR1 reaches the command", async () => {
    // Ten times, each as soon as the command runs: the signal lands wherever the launcher is
    // in its wait, which a flag set by a handler could miss until the command exited itself.
    for (let i = 0; i < 10; i++) {
      const run = await runAndSignalLauncher("echo ready; sleep 1001", "SIGTERM");
      expect(run.status, run.stderr).toBe(128 + 9);
      expect(leftoversOf(run)).toEqual([]);
    }
    const usr1 = await runAndSignalLauncher("trap 'echo got USR1; exit 7' USR1; echo ready; sleep 1002 & wait", "SIGUSR1");
    expect(usr1.status).toBe(7);
    expect(lines(usr1.stdout)).toEqual(["ready", "got USR1"]);
    expect(leftoversOf(usr1)).toEqual([]);
  }, 120_000);

  it("a command name of any length is reported clipped at a character boundary, as JSON the server takes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-report-"));
    try {
      const timeline = path.join(dir, "timeline.jsonl");
      const name = "é".repeat(3000);
      const run = await nslabRun([name], { flags: ["--timeline", timeline] });
      expect(run.status).toBe(127);
      const events = fs.readFileSync(timeline, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: string; detail?: string });
      const failed = events.find((e) => e.step === "exec-failed");
      expect(failed?.detail).toBe(`${"é".repeat(128)}…`);
      const exec = events.find((e) => e.step === "exec");
      expect(exec?.detail).toBe(`${"é".repeat(128)}…`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
