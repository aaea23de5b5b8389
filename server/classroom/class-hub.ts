// One class, live: a card per member, kept up to date from their sessions, and the dashboards
// that watch them. A dashboard is one stream for the whole grid (server-sent events), never a
// connection per learner: the hub gathers what changed and sends the changed cards together,
// at most every DASHBOARD_UPDATE_MS, however often each learner's readings or screen move. The
// first change after a quiet spell goes out at once; what follows it waits for the next turn.
//
// What a card costs while nobody watches the class: nothing but a flag set on output and a
// comparison per kernel reading the session makes anyway. While a dashboard watches, each live
// sandbox is read once a second, and a card's screen lines are fetched from the terminal
// mirror's thread only after its shell printed something, one request per card at a time.
import {
  CARD_SCREEN_COLUMNS,
  CARD_SCREEN_LINES,
  type ClassDetail,
  DASHBOARD_UPDATE_MS,
  type DashboardEvent,
  type LearnerCard,
  type LearnerStatus,
} from "../../common/classroom";
import type { ProbeSnapshot } from "../../common/lab-state";
import type { StepProgress } from "../../common/protocol";
import type { Logger } from "../log";
import type { LabSession, SessionListener } from "../sessions/lab-session";
import type { ClassEventKind, MemberRecord, Store } from "../store/store";

/** How long an update waits for its cards' screens before it goes without the late ones. */
const SCREEN_WAIT_MS = 250;
/** OOM kills are logged at most this often per member (summed). */
const OOM_EVENT_MS = 5_000;
/** How often statuses that move with the clock are looked at. */
const STATUS_CHECK_MS = 5_000;
/** A member connected but silent this long shows as idle. */
export const IDLE_DISPLAY_MS = 2 * 60_000;
/** Dashboards one class may have open at once (the instructor's tabs, a projector, a helper). */
export const MAX_DASHBOARDS_PER_CLASS = 8;
/** The most a dashboard may have unsent before it is let go: a stream that stopped reading
 *  must not make the server hold the class's updates for it. */
export const DASHBOARD_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface Dashboard {
  send(event: DashboardEvent): void;
  /** Bytes written to it and not yet sent. */
  readonly bufferedBytes: number;
  /** The hub lets it go. With a reason (it fell behind) the page is told and should not come
   *  back at once; without one (the server stops) the stream just ends, and the page's
   *  EventSource reconnects by itself. */
  close(reason: string | null): void;
}

interface Card {
  member: MemberRecord;
  steps: Map<string, number>;
  session: LabSession | null;
  oomKills: number;
  /** The current sandbox's OOM count at its last reading. */
  lastOomCount: number | null;
  memoryBytes: number | null;
  pids: number | null;
  screen: string[];
  screenDirty: boolean;
  screenPending: boolean;
  endReason: string | null;
  status: LearnerStatus;
  /** The member's newest sandbox is, or was, one of this node's (not another node's). */
  ownSandbox: boolean;
  /** OOM kills seen and not yet in the event log, and the timer that will log them. */
  pendingOomKills: number;
  oomTimer: NodeJS.Timeout | null;
}

export interface ClassHubDeps {
  store: Store;
  log: Logger;
  /** The detail's parts that are not cards. */
  detailBase(): Promise<Omit<ClassDetail, "learners">>;
}

/** A card another node sent (its sandbox runs there), by member. */
interface RemoteCard {
  node: string;
  card: LearnerCard;
}

export class ClassHub {
  private readonly cards = new Map<string, Card>();
  /** Members whose sandbox runs on another node of the cluster: their cards as that node sent
   *  them. A card of this node's own live sandbox wins over one of these. */
  private readonly remote = new Map<string, RemoteCard>();
  private readonly dashboards = new Set<Dashboard>();
  private readonly dirty = new Set<string>();
  /** The next update's turn, while one is due. */
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing = false;
  private lastFlushAt = 0;
  /** Statuses move with the clock (connected → idle) with no event to say so: looked at now and then. */
  private statusTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly classId: string,
    private readonly deps: ClassHubDeps,
  ) {}

  /** The class's hub, with its members, their progress and their OOM kills read from the store. */
  static async load(classId: string, deps: ClassHubDeps): Promise<ClassHub> {
    const hub = new ClassHub(classId, deps);
    const [members, progress, events] = await Promise.all([
      deps.store.classes.members(classId),
      deps.store.classes.progress(classId),
      deps.store.classes.events(classId, Number.MAX_SAFE_INTEGER),
    ]);
    const ooms = new Map<string, number>();
    for (const event of events) if (event.kind === "oom" && event.memberId) ooms.set(event.memberId, (ooms.get(event.memberId) ?? 0) + Math.max(1, Number(event.detail) || 1));
    for (const member of members) {
      const card = hub.addCard(member);
      card.steps = new Map(progress.get(member.memberId) ?? []);
      card.oomKills = ooms.get(member.memberId) ?? 0;
    }
    return hub;
  }

  get memberCount(): number {
    return this.cards.size;
  }

  get liveCount(): number {
    let live = 0;
    for (const [memberId, card] of this.cards) if (card.session || this.remote.get(memberId)?.card.sandbox) live++;
    return live;
  }

  /** The member's card as this node alone knows it, when it is this node's to tell the others
   *  about (their newest sandbox runs here, or ran here last); null otherwise. Never a card
   *  another node sent: passed on, it would echo between nodes. */
  ownCard(memberId: string): LearnerCard | null {
    const card = this.cards.get(memberId);
    return card?.ownSandbox ? this.cardOf(card) : null;
  }

  /** The card of a member whose sandbox runs on node `node`. */
  remoteCard(node: string, card: LearnerCard): void {
    if (!this.cards.has(card.memberId)) return;
    // A member who moved nodes has an old card on the node they left (their sandbox "ended"
    // there): it must not hide the live one. The newest sandbox wins; a card without one only
    // replaces a card from the same node.
    const shown = this.remote.get(card.memberId);
    if (shown && shown.node !== node && shown.card.sandbox && (!card.sandbox || card.sandbox.startedAtMs < shown.card.sandbox.startedAtMs)) return;
    const mine = this.cards.get(card.memberId);
    // Their sandbox moved to that node: this node's old one is no longer theirs to tell of.
    if (mine && card.sandbox && !mine.session) mine.ownSandbox = false;
    this.remote.set(card.memberId, { node, card });
    this.markDirty(card.memberId);
  }

  /** Those nodes went away: their sandboxes with them. */
  nodesGone(nodes: readonly string[]): void {
    for (const [memberId, entry] of this.remote) {
      if (!nodes.includes(entry.node)) continue;
      this.remote.delete(memberId);
      const card = this.cards.get(memberId);
      if (card && !card.session) card.endReason ??= "The server running this sandbox went away.";
      this.markDirty(memberId);
    }
  }

  get dashboardCount(): number {
    return this.dashboards.size;
  }

  /** A member who just joined (or a name that changed); `done`: the lesson's steps they did
   *  before they joined, which count in the class too. */
  memberJoined(member: MemberRecord, done: ReadonlyMap<string, number> | null = null): void {
    const card = this.cards.get(member.memberId) ?? this.addCard(member);
    card.member = member;
    for (const [step, atMs] of done ?? []) if (!card.steps.has(step)) card.steps.set(step, atMs);
    this.markDirty(member.memberId);
  }

  /** The instructor removed the member: their card goes, and every dashboard is told at once
   *  (not at the next update's turn: a card that lingers invites acting on someone gone). The
   *  caller ends their sandboxes; a session still on the card stops feeding it here. */
  memberRemoved(memberId: string): void {
    const card = this.cards.get(memberId);
    if (!card) return;
    this.cards.delete(memberId);
    this.remote.delete(memberId);
    this.dirty.delete(memberId);
    card.session?.setListener(null);
    card.session = null;
    if (this.dashboards.size > 0) this.sendAll({ type: "removed", memberIds: [memberId] });
  }

  member(memberId: string): MemberRecord | null {
    return this.cards.get(memberId)?.member ?? null;
  }

  members(): MemberRecord[] {
    return [...this.cards.values()].map((c) => c.member);
  }

  /** The member's live session, if they have one. */
  session(memberId: string): LabSession | null {
    return this.cards.get(memberId)?.session ?? null;
  }

  sessions(): LabSession[] {
    return [...this.cards.values()].flatMap((c) => (c.session ? [c.session] : []));
  }

  /** A member's session started: their card follows it from now on. */
  sessionStarted(memberId: string, session: LabSession): void {
    const card = this.cards.get(memberId);
    if (!card) return;
    card.session = session;
    card.endReason = null;
    card.ownSandbox = true;
    this.remote.delete(memberId);
    card.lastOomCount = null;
    card.memoryBytes = null;
    card.pids = null;
    card.screen = [];
    card.screenDirty = true;
    session.setListener(this.listenerFor(card, session));
    if (this.dashboards.size > 0) session.setDashboardWatched(true);
    this.markDirty(memberId);
  }

  /** The dashboard gets the whole class now and the changed cards from then on; null when the
   *  class has as many dashboards as it takes. */
  async subscribe(dashboard: Dashboard): Promise<(() => void) | null> {
    if (this.dashboards.size >= MAX_DASHBOARDS_PER_CLASS) return null;
    // Built before the dashboard counts: one whose detail fails is never left in the set.
    const detail = await this.detail();
    if (this.dashboards.size >= MAX_DASHBOARDS_PER_CLASS) return null;
    this.dashboards.add(dashboard);
    if (this.dashboards.size === 1) {
      for (const session of this.sessions()) session.setDashboardWatched(true);
      this.statusTimer = setInterval(() => this.checkStatuses(), STATUS_CHECK_MS);
      this.statusTimer.unref();
    }
    dashboard.send({ type: "detail", detail });
    // Screens are not read while nobody looks: a new dashboard gets them fresh, as changes.
    for (const [memberId, card] of this.cards) {
      if (!card.session) continue;
      card.screenDirty = true;
      this.markDirty(memberId);
    }
    return () => this.unsubscribe(dashboard);
  }

  /** Every card now. */
  cardList(): LearnerCard[] {
    return [...this.cards.values()].map((card) => this.shown(card));
  }

  async detail(): Promise<ClassDetail> {
    return { ...(await this.deps.detailBase()), learners: this.cardList() };
  }

  /** The class itself changed (state, limits, a broadcast): every dashboard is told. */
  async classChanged(): Promise<void> {
    if (this.dashboards.size === 0) return;
    const base = await this.deps.detailBase();
    this.sendAll({ type: "class", class: base.class, lastBroadcast: base.lastBroadcast, settings: base.settings });
  }

  /** Lets every dashboard go (the server stops: no reason, so they come back by themselves). */
  closeDashboards(reason: string | null): void {
    for (const dashboard of [...this.dashboards]) {
      this.unsubscribe(dashboard);
      dashboard.close(reason);
    }
  }

  /** Records an event in the class's log; a failed write is logged, never thrown. */
  event(kind: ClassEventKind, memberId: string | null, detail: string): void {
    this.deps.store.classes
      .addEvent({ classId: this.classId, atMs: Date.now(), kind, memberId, detail: detail.slice(0, 1000) })
      .catch((err: unknown) => this.deps.log.error({ kind, err }, "class event could not be stored"));
  }

  private addCard(member: MemberRecord): Card {
    const card: Card = {
      member,
      steps: new Map(),
      session: null,
      oomKills: 0,
      lastOomCount: null,
      memoryBytes: null,
      pids: null,
      screen: [],
      screenDirty: false,
      screenPending: false,
      endReason: null,
      status: "waiting",
      ownSandbox: false,
      pendingOomKills: 0,
      oomTimer: null,
    };
    this.cards.set(member.memberId, card);
    return card;
  }

  private unsubscribe(dashboard: Dashboard): void {
    if (!this.dashboards.delete(dashboard)) return;
    if (this.dashboards.size > 0) return;
    for (const session of this.sessions()) session.setDashboardWatched(false);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.dirty.clear();
  }

  private listenerFor(card: Card, session: LabSession): SessionListener {
    const memberId = card.member.memberId;
    const current = () => card.session === session;
    return {
      reading: (snapshot: ProbeSnapshot) => {
        if (!current()) return;
        const memory = snapshot.cgroup.memory;
        const oomCount = memory.oomKillCount.value;
        if (oomCount !== null) {
          // The first reading of a sandbox that counts kills already: they happened in it.
          const kills = card.lastOomCount === null ? oomCount : oomCount - card.lastOomCount;
          if (kills > 0) {
            card.oomKills += kills;
            this.logOom(card, kills);
          }
          card.lastOomCount = oomCount;
        }
        const memoryBytes = memory.usageBytes.value;
        const pids = snapshot.cgroup.pids.current.value;
        if (memoryBytes !== card.memoryBytes || pids !== card.pids) {
          card.memoryBytes = memoryBytes;
          card.pids = pids;
          this.markDirty(memberId);
        }
      },
      output: () => {
        if (!current() || card.screenDirty) return;
        card.screenDirty = true;
        this.markDirty(memberId);
      },
      progress: (steps: readonly StepProgress[]) => {
        if (!current()) return;
        let changed = false;
        for (const step of steps) {
          if (!step.done || step.completedAtMs === null || card.steps.has(step.id)) continue;
          card.steps.set(step.id, step.completedAtMs);
          changed = true;
          this.event("step", memberId, step.id);
        }
        if (changed) this.markDirty(memberId);
      },
      changed: () => {
        if (!current()) return;
        if (session.state === "ended") {
          card.session = null;
          card.endReason = session.endReason;
          session.setListener(null);
        }
        this.markDirty(memberId);
      },
    };
  }

  /** OOM kills go to the event log gathered, at most one line per member every
   *  OOM_EVENT_MS: a learner's allocation loop being killed ten times a second must not push
   *  the class's joins and steps out of its bounded log. */
  private logOom(card: Card, kills: number): void {
    card.pendingOomKills += kills;
    if (card.oomTimer) return;
    const log = () => {
      card.oomTimer = null;
      if (card.pendingOomKills === 0) return;
      this.event("oom", card.member.memberId, String(card.pendingOomKills));
      card.pendingOomKills = 0;
      // Kills that come within the period after this line wait for the next.
      card.oomTimer = setTimeout(log, OOM_EVENT_MS);
      card.oomTimer.unref();
    };
    log();
  }

  private markDirty(memberId: string): void {
    if (this.dashboards.size === 0) return;
    this.dirty.add(memberId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing) return;
    const wait = Math.max(0, this.lastFlushAt + DASHBOARD_UPDATE_MS - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, wait);
    this.flushTimer.unref();
  }

  /** Sends the changed cards: their screens first read from the mirror (at most
   *  SCREEN_WAIT_MS: a screen that is late goes out with the next update). */
  private async flush(): Promise<void> {
    this.flushing = true;
    this.lastFlushAt = Date.now();
    try {
      const screens: Promise<void>[] = [];
      for (const memberId of this.dirty) {
        const card = this.cards.get(memberId);
        if (card?.screenDirty && !card.screenPending && card.session) screens.push(this.refreshScreen(card, card.session));
      }
      if (screens.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(screens), new Promise<void>((resolve) => (timer = setTimeout(resolve, SCREEN_WAIT_MS)))]);
        clearTimeout(timer);
      }
      if (this.dirty.size === 0 || this.dashboards.size === 0) return;
      const cards: LearnerCard[] = [];
      const stillPrinting: string[] = [];
      for (const memberId of this.dirty) {
        const card = this.cards.get(memberId);
        if (!card) continue;
        cards.push(this.shown(card));
        // Output that came after its screen was asked for: read again next turn.
        if (card.screenDirty && card.session) stillPrinting.push(memberId);
      }
      this.dirty.clear();
      for (const memberId of stillPrinting) this.dirty.add(memberId);
      this.sendAll({ type: "cards", cards });
    } finally {
      this.flushing = false;
      // Changes made while this one was sent (a screen that came late) go out next turn.
      if (this.dirty.size > 0) this.scheduleFlush();
    }
  }

  private checkStatuses(): void {
    const now = Date.now();
    for (const [memberId, card] of this.cards) {
      const status = statusOf(card, now);
      if (status === card.status) continue;
      card.status = status;
      this.markDirty(memberId);
    }
  }

  private refreshScreen(card: Card, session: LabSession): Promise<void> {
    card.screenDirty = false;
    card.screenPending = true;
    return session.screenTail(CARD_SCREEN_LINES, CARD_SCREEN_COLUMNS).then(
      (lines) => {
        card.screenPending = false;
        if (card.session !== session) return;
        // No answer in time: the old lines stay, and the screen is asked for again.
        if (lines === null) {
          card.screenDirty = true;
          this.markDirty(card.member.memberId);
          return;
        }
        if (lines.length === card.screen.length && lines.every((line, i) => line === card.screen[i])) return;
        card.screen = lines;
        this.markDirty(card.member.memberId);
      },
      () => {
        card.screenPending = false;
      },
    );
  }

  private sendAll(event: DashboardEvent): void {
    for (const dashboard of [...this.dashboards]) {
      if (dashboard.bufferedBytes > DASHBOARD_MAX_BUFFERED_BYTES) {
        this.unsubscribe(dashboard);
        dashboard.close("The dashboard fell too far behind the class's updates (a slow link?); reload it to catch up.");
        continue;
      }
      dashboard.send(event);
    }
  }

  /** The card dashboards see: this node's while its sandbox runs here, else the one from the
   *  node where it runs (with this node's name for the member, which the store keeps). */
  private shown(card: Card): LearnerCard {
    const remote = card.session ? undefined : this.remote.get(card.member.memberId);
    return remote ? { ...remote.card, name: card.member.displayName } : this.cardOf(card);
  }

  private cardOf(card: Card): LearnerCard {
    const session = card.session;
    card.status = statusOf(card, Date.now());
    return {
      memberId: card.member.memberId,
      name: card.member.displayName,
      joinedAtMs: card.member.joinedAtMs,
      status: card.status,
      steps: [...card.steps].map(([id, completedAtMs]) => ({ id, completedAtMs })),
      lastInputAtMs: session?.lastInputAtMs ?? null,
      sandbox: session
        ? {
            hostname: session.sandbox.hostname,
            startedAtMs: session.startedAtMs,
            limits: { ...session.sandbox.limits },
            memoryBytes: card.memoryBytes,
            pids: card.pids,
          }
        : null,
      oomKills: card.oomKills,
      screen: card.screen,
      endReason: card.endReason,
    };
  }
}

function statusOf(card: Card, now: number): LearnerStatus {
  const session = card.session;
  if (!session) return card.endReason !== null ? "ended" : "waiting";
  if (session.state === "ended") return "ended";
  if (session.state === "detached") return "reconnecting";
  const last = session.lastInputAtMs ?? session.startedAtMs;
  return now - last >= IDLE_DISPLAY_MS ? "idle" : "connected";
}
