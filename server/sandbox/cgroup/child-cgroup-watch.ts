// Bounding how many child cgroups a learner holds where the kernel does not: cgroup v1 has no
// cgroup.max.descendants, so a session that goes past MAX_CHILD_CGROUPS in any hierarchy is
// ended (see driver.ts for why the bound exists).
//
// A session that leaves its cgroups alone costs nothing of its own: there is an inotify watch
// on every cgroup of the session's trees, and a count runs only when one reports a cgroup made,
// removed or renamed (fs.watch's "rename"; writes to control files are "change" and ignored),
// at most once per turn of the event loop for a whole flood of them.
//
// Why the watches cover every level: each count walks the tree (server/kernel/cgroup-tree.ts,
// through directory descriptors, so depth past PATH_MAX is no obstacle; inotify_add_watch
// follows the /proc/self/fd path to the directory) and watches each cgroup it enters *before*
// listing that cgroup's children. A child made before the listing is walked into and watched in
// the same count; one made after it is reported by the watch just added, and the next count
// walks into it. So every cgroup of the tree is either watched or announced by a pending count,
// however deep the learner nests. A count re-walks the whole tree rather than applying events
// one by one, so an event lost in between (the kernel's queue of 16384 overflowing) costs
// nothing as long as any later one arrives. The walk stops one past the bound (in cgroups and
// in levels), so a session never holds more watches than that in a hierarchy.
//
// Cgroups removed are bounded too. A removed cgroup whose memory still holds a page (a file on
// the sandbox's tmpfs written from inside it) stays in the kernel as a dying cgroup, no longer
// a child of the session but still one of the host's (/proc/cgroups counts it) with its kernel
// memory: made and removed in a loop, they would pass any bound on live ones. So with
// `maxCreations`, the cgroups made over the session's life count too: each cgroup made or
// removed below a watched one is an event of its own on the watch of its parent (and a removal
// one more on its own), and past 2 × maxCreations of them in a hierarchy (or once the kernel's
// own count of dying descendants, cgroup.stat on v2, passes maxCreations) no further cgroup can
// be made there: every directory of that tree is given back to host root, mode 0755, so the
// learner's mkdir answers EACCES while their processes still move between the cgroups they
// have. A flood of events, which the watches are shed for, stops creations alike: what could
// not be counted is not allowed. Creations that go on after the stop (twice as many changes
// again, or twice the dying bound) end the session: the stop was got round.
//
// What watches cannot promise — no watch could be added (the host's fs.inotify.max_user_watches
// is used up), every later event lost — one host-wide sweep covers: one timer for all
// sessions, re-counting each tick the few trees with a watch missing and one other in turn
// (4 a second whatever the number of sessions: about 2 ms of the event loop's time a second).
import fs from "node:fs";
import path from "node:path";

import { log } from "../../log";
import { countCgroupsBelow } from "../../kernel/cgroup-tree";
import { isGoneError } from "../../probes/kernel-files";

/** Events one cgroup made and removed raises at least: its creation and its removal, at its
 *  parent's watch (and two more at its own watch, its removal and the watch's end, when it had
 *  one by then; so a hierarchy is stopped after between 1/2 and all of maxCreations of them). */
const CHANGES_PER_CREATION = 2;
/** How long the "change" events of stopCreations' own chown and chmod take to arrive. */
const OWN_CHANGES_MS = 250;
/** Passes of stopCreations before it gives up and ends the session. */
const STOP_PASSES = 4;
/** How often the host-wide sweep runs. */
const SWEEP_INTERVAL_MS = 250;
/** A session's trees are counted at most this often: a learner making and removing a cgroup
 *  in a loop beside 256 others costs one count (a few ms) per this, not one per event. */
export const MIN_COUNT_GAP_MS = 100;
/** Events a session's watches may raise in one second before they are dropped: fs.watch also
 *  reports every write to a control file, all of which the learner owns in child cgroups, so
 *  a write loop would otherwise cost the server one callback per write. Past this, the tree is
 *  left to the sweep (counted every tick, as a tree without watches) for FLOOD_QUIET_MS. */
export const MAX_EVENTS_PER_SECOND = 500;
const FLOOD_QUIET_MS = 10_000;
/** Trees with a cgroup left unwatched that one tick re-counts: each as often as every tick
 *  while there are this few; more share the ticks in turn. */
const SWEEP_UNWATCHED_PER_TICK = 16;
/** Trees of any kind one tick re-counts in turn: the backstop for events that never came. */
const SWEEP_ANY_PER_TICK = 1;

export interface ChildCgroupWatchOptions {
  /** The session's cgroup directory in each hierarchy. */
  readonly dirs: readonly string[];
  /** The most cgroups a hierarchy may hold below the session's own. */
  readonly maxChildren: number;
  /** Called at most once, with the hierarchy's directory, when one holds more; the watch has
   *  closed itself by then. */
  readonly onTooMany: (dir: string) => void;
  /** The most cgroups a hierarchy may make over the session's life, live, removed or dying
   *  (none: no such bound). */
  readonly maxCreations?: number;
  /** Called once per hierarchy whose creations were stopped, with its directory. */
  readonly onCreationsStopped?: (dir: string) => void;
  /** Called with each cgroup below a tree's root the first time a count enters it (its short
   *  path, good only during the call): what a child needs from the server goes in here. */
  readonly onNewChild?: (dir: string) => void;
  /** The sweep this watch is part of: the host-wide one unless a test brings its own. */
  readonly sweep?: ChildCgroupSweep;
}

/** The watches on one hierarchy's tree of the session. */
class TreeWatch {
  /**
   * By the inode of the cgroup watched, not its path: the inode stays with a cgroup the learner
   * renames (and so does the watch), two names that are not UTF-8 can share one path string,
   * and a cgroup removed and made again under its name is a new inode (cgroupfs numbers them
   * cyclically, 32 bits and a generation), which needs a watch of its own.
   */
  private readonly watches = new Map<number, fs.FSWatcher>();
  /** Cgroups onNewChild was called for (by inode): once each, also when a watch lost after a
   *  flood is added again. As many as the cgroups made, which the creations bound stops. */
  private readonly announced = new Set<number>();
  /** Whether the last count left some cgroup without a watch. */
  unwatched = false;
  /** Cgroups made or removed below a watched cgroup since the watch began. */
  childChanges = 0;
  /** Whether creations in this tree were stopped (its directories given back to host root). */
  creationsStopped = false;

  constructor(
    readonly root: string,
    private readonly changed: (needsCount: boolean, childChange: boolean) => void,
    private readonly onNewChild?: (dir: string) => void,
  ) {}

  get watchCount(): number {
    return this.watches.size;
  }

  /** Count the cgroups below the root (no further than atMost + 1), and bring the watches in
   *  line with the tree walked: one on each cgroup entered, none on a cgroup gone. */
  count(atMost: number): number {
    const entered = new Set<number>();
    let unwatched = false;
    const held = countCgroupsBelow(this.root, atMost, {
      enter: ({ dir, depth }) => {
        const inode = inodeOf(dir);
        if (inode === null) return; // removed just now: its parent's watch says so
        entered.add(inode);
        if (this.watches.has(inode)) return;
        if (depth > 0 && this.onNewChild && !this.announced.has(inode)) {
          this.announced.add(inode);
          this.onNewChild(dir);
        }
        const watcher = this.watch(inode, dir);
        if (watcher) this.watches.set(inode, watcher);
        else if (watcher === null) unwatched = true;
      },
    });
    for (const [inode, watcher] of this.watches) {
      if (entered.has(inode)) continue;
      watcher.close();
      this.watches.delete(inode);
    }
    this.unwatched = unwatched;
    return held;
  }

  /** A watch on `dir` (a short path, good during the walk's visit); null when the host would
   *  not give one, undefined when the cgroup is gone. */
  private watch(inode: number, dir: string): fs.FSWatcher | null | undefined {
    let watcher: fs.FSWatcher;
    try {
      // Not persistent: a watch never keeps a process alive (nslab run exits with its command).
      // Every event is counted against the flood bound; only a cgroup made, removed or renamed
      // ("rename") asks for a count.
      // Every "rename" counts as a change of a cgroup: a child made, removed or renamed, or the
      // watched cgroup's own removal (counted at its parent too). The name cannot tell them
      // apart: a self event names the watched directory, and a child may be given the same
      // name (a/a), so a cycle of mkdir and rmdir counts two to four (CHANGES_PER_CREATION).
      watcher = fs.watch(dir, { persistent: false }, (eventType) => this.changed(eventType === "rename", eventType === "rename"));
    } catch (err) {
      if (isGoneError(err)) return undefined;
      if (!this.unwatched) log.warn({ dir: this.root, code: (err as NodeJS.ErrnoException).code }, "cannot watch a child cgroup; the sweep counts this tree instead");
      return null;
    }
    watcher.on("error", () => {
      // The next count watches it again; until then the sweep counts this tree.
      watcher.close();
      if (this.watches.get(inode) === watcher) this.watches.delete(inode);
      this.unwatched = true;
      this.changed(true, false);
    });
    return watcher;
  }

  /** Count without watching (a tree whose watches were shed). */
  countOnly(atMost: number): number {
    return countCgroupsBelow(this.root, atMost);
  }

  close(): void {
    for (const watcher of this.watches.values()) watcher.close();
    this.watches.clear();
  }
}

/** cgroup v2's count of the cgroups removed below `root` that the kernel still holds (0 where
 *  there is no cgroup.stat: v1). */
function dyingDescendants(root: string): number {
  let text: string;
  try {
    text = fs.readFileSync(path.join(root, "cgroup.stat"), "utf8");
  } catch {
    return 0;
  }
  return Number(/^nr_dying_descendants (\d+)$/m.exec(text)?.[1] ?? 0);
}

function inodeOf(dir: string): number | null {
  try {
    return fs.statSync(dir).ino;
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

/** One session's child cgroups, in every hierarchy of its cgroup. */
export class ChildCgroupWatch {
  private readonly trees: TreeWatch[];
  private readonly sweep: ChildCgroupSweep;
  /** Trees with an event since their last count. */
  private readonly pending = new Set<TreeWatch>();
  private scheduled = false;
  private closed = false;
  private lastCountAt = Number.NEGATIVE_INFINITY;
  /** Events in the current second, and when it began. */
  private events = 0;
  private eventsSince = 0;
  /** Until when the watches are shed after a flood (0: they are not). */
  private shedUntil = 0;
  /** Until when "change" events are this watch's own (stopCreations' chown and chmod). */
  private ownChangesUntil = 0;

  constructor(private readonly options: ChildCgroupWatchOptions) {
    this.sweep = options.sweep ?? hostSweep;
    this.trees = options.dirs.map((dir) => {
      const tree: TreeWatch = new TreeWatch(dir, (needsCount, childChange) => this.changed(tree, needsCount, childChange), options.onNewChild);
      return tree;
    });
  }

  /** The first count (what was made before the watch, and the first watches), and a place in
   *  the sweep. */
  start(): void {
    if (this.closed) return;
    this.sweep.add(this);
    this.count(this.trees);
  }

  /** Cgroups watched, over every hierarchy. */
  get watchCount(): number {
    return this.trees.reduce((sum, tree) => sum + tree.watchCount, 0);
  }

  /** Whether some cgroup of its trees has no watch (or every watch was shed after a flood). */
  get unwatched(): boolean {
    return this.shedUntil > Date.now() || this.trees.some((tree) => tree.unwatched);
  }

  /** Re-count every tree (the sweep's visit). */
  recount(): void {
    this.count(this.trees);
  }

  private changed(tree: TreeWatch, needsCount = true, childChange = false): void {
    if (this.closed) return;
    if (childChange && ++tree.childChanges > CHANGES_PER_CREATION * (this.options.maxCreations ?? Infinity)) {
      // Creations that go on once they were stopped: something gave the learner a way round the
      // stop. Fail closed: the session ends.
      if (tree.creationsStopped && tree.childChanges > 2 * CHANGES_PER_CREATION * (this.options.maxCreations ?? Infinity)) {
        this.tooMany(tree);
        return;
      }
      this.stopCreations(tree, "made");
      if (this.closed) return;
    }
    const now = Date.now();
    // The attribute changes stopCreations itself makes (a chown and a chmod of every
    // directory, two events each) are not the learner's writes, and must not count as a flood.
    if (!childChange && now < this.ownChangesUntil) return;
    if (now - this.eventsSince >= 1_000 || now < this.eventsSince) {
      this.events = 0;
      this.eventsSince = now;
    }
    if (++this.events > MAX_EVENTS_PER_SECOND) {
      this.shed(now);
      return;
    }
    if (!needsCount) return;
    this.pending.add(tree);
    if (this.scheduled) return;
    this.scheduled = true;
    // One count per tree for everything reported meanwhile: on the next turn of the event
    // loop, or MIN_COUNT_GAP_MS after the last count when that is later.
    const wait = Math.max(0, this.lastCountAt + MIN_COUNT_GAP_MS - now);
    const run = () => {
      this.scheduled = false;
      const due = [...this.pending];
      this.pending.clear();
      this.count(due);
    };
    if (wait === 0) setImmediate(run);
    else setTimeout(run, wait).unref();
  }

  /** Too many events: drop every watch and let the sweep count the trees for a while. */
  private shed(now: number): void {
    if (this.shedUntil > now) return;
    this.shedUntil = now + FLOOD_QUIET_MS;
    for (const tree of this.trees) tree.close();
    // Cgroups made meanwhile would go uncounted: none may be.
    for (const tree of this.trees) this.stopCreations(tree, "flood");
    this.pending.clear();
    log.warn({ dir: this.trees[0]?.root, events: this.events }, "a sandbox's cgroup tree changes too often to watch; the sweep counts it instead");
    this.sweep.setUnwatched(this, true);
  }

  private count(trees: readonly TreeWatch[]): void {
    this.lastCountAt = Date.now();
    if (this.shedUntil > this.lastCountAt) {
      // Shed after a flood: counted by the sweep, with no watches, until the quiet time ends.
      for (const tree of trees) {
        if (this.closed) return;
        if (tree.countOnly(this.options.maxChildren) <= this.options.maxChildren) continue;
        this.close();
        this.options.onTooMany(tree.root);
        return;
      }
      return;
    }
    this.shedUntil = 0;
    for (const tree of trees) {
      if (this.closed) return;
      if (this.options.maxCreations !== undefined) {
        const dying = dyingDescendants(tree.root);
        if (dying > 2 * this.options.maxCreations && tree.creationsStopped) {
          this.tooMany(tree);
          return;
        }
        if (dying > this.options.maxCreations) this.stopCreations(tree, "dying");
        if (this.closed) return;
      }
      if (tree.count(this.options.maxChildren) > this.options.maxChildren) {
        this.tooMany(tree);
        return;
      }
      // A cgroup left without a watch (the host's inotify watches used up) would make and
      // remove children uncounted: as after a flood, none may be made.
      if (tree.unwatched && this.options.maxCreations !== undefined) this.stopCreations(tree, "unwatched");
      if (this.closed) return;
    }
    this.sweep.setUnwatched(this, this.unwatched);
  }

  /**
   * No more cgroups in `tree`: each of its directories is given back to host root, from the top
   * down, so a cgroup made while this runs is made in a directory not yet given back and is
   * listed when the walk gets there. Once per tree; only with maxCreations.
   */
  private stopCreations(tree: TreeWatch, why: "made" | "flood" | "dying" | "unwatched"): void {
    if (this.options.maxCreations === undefined || tree.creationsStopped || this.closed) return;
    tree.creationsStopped = true;
    // Owner and mode both: the learner may have opened a directory to everyone beforehand
    // (chmod 777), and host root's ownership alone would leave that door. A cgroup renamed
    // while a pass runs is missed by it (its path went stale), so passes repeat until one finds
    // every directory closed; if none does, the session ends rather than keep its way round.
    this.ownChangesUntil = Date.now() + OWN_CHANGES_MS;
    for (let pass = 0; pass < STOP_PASSES; pass++) {
      let open = 0;
      countCgroupsBelow(tree.root, this.options.maxChildren, {
        enter: ({ dir }) => {
          try {
            const st = fs.statSync(dir);
            if (st.uid === 0 && st.gid === 0 && (st.mode & 0o7777) === 0o755) return;
            open++;
            fs.chownSync(dir, 0, 0);
            fs.chmodSync(dir, 0o755);
          } catch (err) {
            if (!isGoneError(err)) throw err;
          }
        },
      });
      if (open === 0) {
        log.warn({ dir: tree.root, why, changes: tree.childChanges, limit: this.options.maxCreations }, "a sandbox may make no more cgroups in this hierarchy");
        this.options.onCreationsStopped?.(tree.root);
        return;
      }
    }
    this.tooMany(tree);
  }

  /** The session holds (or could go on making) more cgroups than it may: it ends. */
  private tooMany(tree: TreeWatch): void {
    if (this.closed) return;
    this.close();
    this.options.onTooMany(tree.root);
  }

  /** Drop every watch; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    for (const tree of this.trees) tree.close();
    this.sweep.delete(this);
  }
}

/**
 * The backstop for every session's watch on this host, on one timer (running only while some
 * session is watched): each tick re-counts the trees with a cgroup left unwatched and one more
 * in turn. With `{ timer: false }` it only counts when its tick() is called (tests).
 */
export class ChildCgroupSweep {
  private readonly all = new Set<ChildCgroupWatch>();
  private readonly unwatched = new Set<ChildCgroupWatch>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: { timer: boolean } = { timer: true }) {}

  get size(): number {
    return this.all.size;
  }

  add(watch: ChildCgroupWatch): void {
    this.all.add(watch);
    if (this.timer || !this.options.timer) return;
    this.timer = setInterval(() => this.tick(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  delete(watch: ChildCgroupWatch): void {
    this.all.delete(watch);
    this.unwatched.delete(watch);
    if (this.all.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  setUnwatched(watch: ChildCgroupWatch, unwatched: boolean): void {
    if (unwatched && this.all.has(watch)) this.unwatched.add(watch);
    else this.unwatched.delete(watch);
  }

  tick(): void {
    for (const watch of takeInTurn(this.unwatched, SWEEP_UNWATCHED_PER_TICK)) watch.recount();
    for (const watch of takeInTurn(this.all, SWEEP_ANY_PER_TICK)) watch.recount();
  }
}

/** The first `n` of `set`, moved to its end: successive calls go round the whole set. */
function takeInTurn<T>(set: Set<T>, n: number): T[] {
  const taken: T[] = [];
  for (const item of set) {
    if (taken.length >= n) break;
    taken.push(item);
  }
  for (const item of taken) {
    set.delete(item);
    set.add(item);
  }
  return taken;
}

const hostSweep = new ChildCgroupSweep();
