// The host-wide uid ranges: claims that cost one system call however many sessions are live,
// O_EXCL as the arbiter between servers sharing a run directory, reuse after release, and a
// full table answering null.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { selfOwner } from "../kernel/proc";
import { IDS_PER_SANDBOX, MAX_SLOTS, UID_BASE_START, type UidSlot, UidSlots } from "./uid-slots";

let runDir: string;
beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-uid-slots-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(runDir, { recursive: true, force: true });
});

function claimOrFail(slots: UidSlots, sessionId: string): UidSlot {
  const slot = slots.claim(sessionId);
  if (!slot) throw new Error(`no slot for ${sessionId}`);
  return slot;
}

describe("UidSlots", () => {
  it("hands out distinct ranges, each a file naming its owner and session", () => {
    const slots = new UidSlots(runDir);
    const claimed = Array.from({ length: 3 }, (_, i) => claimOrFail(slots, `session${i}`));
    expect(claimed.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(claimed.map((s) => s.uidBase)).toEqual([0, 1, 2].map((i) => UID_BASE_START + i * IDS_PER_SANDBOX));
    expect(fs.readFileSync(claimed[1]?.file ?? "", "utf8")).toBe(`${selfOwner()} session1\n`);
  });

  it("claims with a thousand ranges held at its first O_EXCL try", () => {
    const slots = new UidSlots(runDir);
    const held = Array.from({ length: 1000 }, (_, i) => claimOrFail(slots, `held${i}`));
    // Sessions come and go in any order; the next claims still need one creation each.
    for (const slot of held.filter((s) => s.index % 3 === 0)) slots.release(slot);
    const creations = vi.spyOn(fs, "writeFileSync");
    const next = Array.from({ length: 50 }, (_, i) => claimOrFail(slots, `next${i}`));
    expect(creations).toHaveBeenCalledTimes(50);
    expect(next.map((s) => s.index)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i));
  });

  it("never gives two servers on one run directory the same range", () => {
    const first = new UidSlots(runDir);
    const second = new UidSlots(runDir);
    const owner = new Map<number, string>();
    const live: Array<{ slots: UidSlots; slot: UidSlot }> = [];
    for (let i = 0; i < 600; i++) {
      const slots = i % 2 === 0 ? first : second;
      const sessionId = `s${i}`;
      const slot = claimOrFail(slots, sessionId);
      expect(owner.get(slot.index), `range ${slot.index} handed out twice`).toBeUndefined();
      owner.set(slot.index, sessionId);
      live.push({ slots, slot });
      // Now and then a session of either server ends, so the two keep meeting on freed ranges.
      if (i % 5 === 4) {
        const ended = live.splice((i * 7) % live.length, 1)[0];
        if (ended) {
          ended.slots.release(ended.slot);
          owner.delete(ended.slot.index);
        }
      }
    }
    for (const [index, sessionId] of owner) expect(fs.readFileSync(path.join(runDir, "uid-slots", String(index)), "utf8")).toBe(`${selfOwner()} ${sessionId}\n`);
  });

  it("answers null when every range is taken, and reuses one once it is released", () => {
    const first = new UidSlots(runDir);
    const second = new UidSlots(runDir);
    const held = Array.from({ length: MAX_SLOTS - 100 }, (_, i) => claimOrFail(first, `a${i}`));
    for (let i = 0; i < 100; i++) claimOrFail(second, `b${i}`);
    expect(first.claim("one-too-many")).toBeNull();
    expect(second.claim("one-too-many")).toBeNull();
    const freed = held[1234];
    if (!freed) throw new Error("expected a held range");
    first.release(freed);
    expect(fs.existsSync(freed.file)).toBe(false);
    // The other server finds it too: the file is the truth, not what either remembers.
    expect(second.claim("reuser")?.index).toBe(1234);
    expect(first.claim("late")).toBeNull();
  });

  it("frees the ranges of servers that are gone, and only those", () => {
    const slots = new UidSlots(runDir);
    const mine = claimOrFail(slots, "mine0001");
    const gonePid = spawnSync("true").pid;
    fs.writeFileSync(path.join(runDir, "uid-slots", "7"), `${gonePid} orphan01\n`);
    expect(slots.releaseOrphans()).toEqual(["orphan01"]);
    expect(fs.readdirSync(path.join(runDir, "uid-slots"))).toEqual([String(mine.index)]);
    // A freed range is claimable again.
    const claimed = Array.from({ length: 7 }, (_, i) => claimOrFail(slots, `again${i}`).index);
    expect(claimed).toContain(7);
  });

  it("tells a dead owner from a live process that has its pid, as in a restarted container", () => {
    const slots = new UidSlots(runDir);
    const mine = claimOrFail(slots, "mine0002");
    const [pid, start] = selfOwner().split("@");
    // This process's pid, another start time: the server of a container before this one,
    // whose pid numbers started again from 1 as this one's did.
    fs.writeFileSync(path.join(runDir, "uid-slots", "8"), `${pid}@${Number(start) + 1} earlier01\n`);
    // A file of a release that wrote the pid alone is judged by the pid: this one is alive.
    fs.writeFileSync(path.join(runDir, "uid-slots", "9"), `${pid} oldform1\n`);
    expect(slots.releaseOrphans()).toEqual(["earlier01"]);
    expect(fs.readdirSync(path.join(runDir, "uid-slots")).sort()).toEqual([String(mine.index), "9"].sort());
  });
});
