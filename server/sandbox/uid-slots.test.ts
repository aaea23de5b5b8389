// The host-wide uid ranges: claims that cost one system call however many sessions are live,
// O_EXCL as the arbiter between servers (whatever their run directories and bases), reuse
// after release, a full table answering null, dead owners' slots freed under a lock, and a
// base refused where it overlaps the host's other id ranges.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { selfOwner } from "../kernel/proc";
import { DEFAULT_UID_BASE, IDS_PER_SANDBOX, MAX_SLOTS, UID_BASE_START, UID_SLOTS_DIR, type UidSlot, UidSlots, uidRangeConflicts, uidSlotFile } from "./uid-slots";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-uid-slots-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The slot file of the index-th range from the default base. */
const slotFile = (index: number) => uidSlotFile(UID_BASE_START + index * IDS_PER_SANDBOX, dir);
/** The slot files present, by index from the default base (the lock file is not one). */
const slotIndexes = () =>
  fs.readdirSync(dir).filter((name) => /^\d+$/.test(name)).map((name) => (Number(name) - UID_BASE_START) / IDS_PER_SANDBOX).sort((a, b) => a - b);

function claimOrFail(slots: UidSlots, sessionId: string): UidSlot {
  const slot = slots.claim(sessionId);
  if (!slot) throw new Error(`no slot for ${sessionId}`);
  return slot;
}

describe("UidSlots", () => {
  it("makes its directory private and the run directory above it passable", () => {
    const nested = path.join(dir, "run", "uid-slots");
    new UidSlots({ dir: nested });
    expect(fs.statSync(nested).mode & 0o777).toBe(0o700);
    // Sandboxes look their roots up through the run directory as unprivileged uids.
    expect(fs.statSync(path.dirname(nested)).mode & 0o011).toBe(0o011);
  });

  it("hands out distinct ranges, each a file naming its owner and session", () => {
    const slots = new UidSlots({ dir });
    const claimed = Array.from({ length: 3 }, (_, i) => claimOrFail(slots, `session${i}`));
    expect(claimed.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(claimed.map((s) => s.uidBase)).toEqual([0, 1, 2].map((i) => UID_BASE_START + i * IDS_PER_SANDBOX));
    expect(fs.readFileSync(claimed[1]?.file ?? "", "utf8")).toBe(`${selfOwner()} session1\n`);
  });

  it("claims with a thousand ranges held at its first O_EXCL try", () => {
    const slots = new UidSlots({ dir });
    const held = Array.from({ length: 1000 }, (_, i) => claimOrFail(slots, `held${i}`));
    // Sessions come and go in any order; the next claims still need one creation each.
    for (const slot of held.filter((s) => s.index % 3 === 0)) slots.release(slot);
    const creations = vi.spyOn(fs, "writeFileSync");
    const next = Array.from({ length: 50 }, (_, i) => claimOrFail(slots, `next${i}`));
    expect(creations).toHaveBeenCalledTimes(50);
    expect(next.map((s) => s.index)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i));
  });

  it("never gives two servers on one run directory the same range", () => {
    const first = new UidSlots({ dir });
    const second = new UidSlots({ dir });
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
    for (const [index, sessionId] of owner) expect(fs.readFileSync(slotFile(index), "utf8")).toBe(`${selfOwner()} ${sessionId}\n`);
  });

  it("answers null when every range is taken, and reuses one once it is released", () => {
    const first = new UidSlots({ dir });
    const second = new UidSlots({ dir });
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
    const slots = new UidSlots({ dir });
    const mine = claimOrFail(slots, "mine0001");
    const gonePid = spawnSync("true").pid;
    fs.writeFileSync(slotFile(7), `${gonePid} orphan01\n`);
    expect(slots.releaseOrphans()).toEqual(["orphan01"]);
    expect(slotIndexes()).toEqual([mine.index]);
    // A freed range is claimable again.
    const claimed = Array.from({ length: 7 }, (_, i) => claimOrFail(slots, `again${i}`).index);
    expect(claimed).toContain(7);
  });

  it("tells a dead owner from a live process that has its pid, as in a restarted container", () => {
    const slots = new UidSlots({ dir });
    const mine = claimOrFail(slots, "mine0002");
    const [pid, start] = selfOwner().split("@");
    // This process's pid, another start time: the server of a container before this one,
    // whose pid numbers started again from 1 as this one's did.
    fs.writeFileSync(slotFile(8), `${pid}@${Number(start) + 1} earlier01\n`);
    // A file of a release that wrote the pid alone is judged by the pid: this one is alive.
    fs.writeFileSync(slotFile(9), `${pid} oldform1\n`);
    expect(slots.releaseOrphans()).toEqual(["earlier01"]);
    expect(slotIndexes()).toEqual([mine.index, 9]);
  });

  it("never frees a slot another server claimed while this one was sweeping", () => {
    const sweeper = new UidSlots({ dir });
    const other = new UidSlots({ dir });
    const gonePid = spawnSync("true").pid;
    fs.writeFileSync(slotFile(0), `${gonePid} orphan02\n`);
    // Between this server's first reading of the dead owner's slot and its unlink, the other
    // server frees it too and a session of its own claims the range.
    const read = fs.readFileSync;
    let raced = false;
    vi.spyOn(fs, "readFileSync").mockImplementation(((...args: Parameters<typeof read>) => {
      const text = read(...args);
      if (!raced && args[0] === slotFile(0)) {
        raced = true;
        expect(other.releaseOrphans()).toEqual(["orphan02"]);
        expect(other.claim("fresh001")?.index).toBe(0);
      }
      return text;
    }) as typeof read);
    expect(sweeper.releaseOrphans()).toEqual([]);
    expect(raced).toBe(true);
    expect(read(slotFile(0), "utf8")).toBe(`${selfOwner()} fresh001\n`);
  });

  it("gives servers with different bases the same file for the same ids, and refuses a base off the grid", () => {
    const low = new UidSlots({ dir });
    const high = new UidSlots({ dir, base: UID_BASE_START + 2 * IDS_PER_SANDBOX });
    expect(high.claim("high0001")?.uidBase).toBe(UID_BASE_START + 2 * IDS_PER_SANDBOX);
    // The lower server's third range is the same ids: taken, so it goes on to the next free.
    expect([0, 1, 2].map((i) => low.claim(`low0000${i}`)?.uidBase)).toEqual([0, 1, 3].map((i) => UID_BASE_START + i * IDS_PER_SANDBOX));
    expect(() => new UidSlots({ dir, base: UID_BASE_START + 1 })).toThrow(/use a multiple of 65536/);
    expect(() => new UidSlots({ dir, base: 2 ** 32 - IDS_PER_SANDBOX })).toThrow(/NSLAB_UID_BASE/);
  });

  it("keeps its slots in one host-wide place by default, not under a server's run directory", () => {
    expect(UID_SLOTS_DIR).toBe("/run/nslab/uid-slots");
    expect(uidSlotFile(DEFAULT_UID_BASE)).toBe(`/run/nslab/uid-slots/${DEFAULT_UID_BASE}`);
  });
});

describe("uidRangeConflicts", () => {
  const none = { subuid: "", subgid: "" };

  it("finds the default base clear of useradd's ranges and of the ranges other services use", () => {
    const subuid = "alice:100000:65536\nbob:165536:65536\n";
    expect(uidRangeConflicts(DEFAULT_UID_BASE, { subuid, subgid: subuid })).toEqual([]);
    // The ranges' last id is below 2^31, which tools keeping a uid in a signed int get wrong.
    expect(DEFAULT_UID_BASE + MAX_SLOTS * IDS_PER_SANDBOX - 1).toBeLessThan(2 ** 31);
  });

  it("names the /etc/subuid or /etc/subgid line a base overlaps, and what to do", () => {
    const subuid = "# ranges for rootless containers\nalice:100000:65536\npodman:2100000000:65536\n";
    const subgid = "carol:2134441983:1\n";
    expect(uidRangeConflicts(DEFAULT_UID_BASE, { subuid, subgid })).toEqual([
      "nslab's uid range 2000224256-2134441983 (NSLAB_UID_BASE=2000224256) overlaps /etc/subuid's podman:2100000000:65536; set NSLAB_UID_BASE to a multiple of 65536 whose 134217728 ids overlap none of these (the default 2000224256 is clear of the usual ones), or move that range",
      "nslab's uid range 2000224256-2134441983 (NSLAB_UID_BASE=2000224256) overlaps /etc/subgid's carol:2134441983:1; set NSLAB_UID_BASE to a multiple of 65536 whose 134217728 ids overlap none of these (the default 2000224256 is clear of the usual ones), or move that range",
    ]);
    // Just past the end, or ending just before the start: no overlap.
    expect(uidRangeConflicts(DEFAULT_UID_BASE, { subuid: "x:2134441984:10\ny:2000224246:10\n", subgid: "" })).toEqual([]);
  });

  it("refuses the old base, 2^20, inside sssd's and systemd's ranges", () => {
    const conflicts = uidRangeConflicts(1 << 20, none);
    expect(conflicts).toHaveLength(2);
    expect(conflicts[0]).toMatch(/overlaps sssd's default id mapping range \(ldap_idmap_range_min\/max\), 200000-2000200000; set NSLAB_UID_BASE/);
    expect(conflicts[1]).toMatch(/overlaps systemd's container range/);
  });
});
