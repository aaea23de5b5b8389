// One class's dashboard, whole, when its learners' sandboxes are spread over several nodes.
// Each node's hub keeps a card per member from its own sandboxes. A node with a dashboard
// open says so on the bus ("watch", every WATCH_EVERY_MS while one is open); every other node
// then follows the class with a dashboard of its own that publishes, instead of drawing, the
// cards of the sandboxes it runs. The watching node's hub lays those cards over its own.
// Class changes made on one node (a broadcast, limits, a removal…) and requests for one
// member's sandbox (reset, end, their limits) go to the others the same way.
import type { DashboardEvent, LearnerCard } from "../../common/classroom";
import type { ClassHub, Dashboard } from "../classroom/class-hub";
import type { ClassroomCluster, Classrooms } from "../classroom/classrooms";
import type { Logger } from "../log";
import { type BusMessage, type ClassChange, type ClusterNode, type MemberAnswer, type MemberRequest, NOTIFY_MAX_BYTES } from "./cluster-node";

export const WATCH_EVERY_MS = 5_000;
/** A node stops following a class this long after the last watch it heard. */
const FOLLOW_FOR_MS = 3 * WATCH_EVERY_MS;
/** Classes one node follows for dashboards elsewhere, at most (the hubs' own bound is 100
 *  active classes). */
const MAX_FOLLOWED = 200;

/** Publishes the cards of this node's sandboxes of a class watched on another node. */
class BusDashboard implements Dashboard {
  readonly bufferedBytes = 0;
  lastWatchAt = Date.now();
  unsubscribe: (() => void) | null = null;

  constructor(
    private readonly node: ClusterNode,
    private readonly hub: ClassHub,
    private readonly onClose: () => void,
  ) {}

  send(event: DashboardEvent): void {
    const cards = event.type === "detail" ? event.detail.learners : event.type === "cards" ? event.cards : [];
    for (const shown of cards) {
      const own = this.hub.ownCard(shown.memberId);
      if (own) this.publish(own);
    }
  }

  private publish(card: LearnerCard): void {
    let fitted = card;
    // A card's screen is the only part that can be long: lines go from the top until it fits.
    while (Buffer.byteLength(JSON.stringify({ kind: "card", from: this.node.id, classId: this.hub.classId, card: fitted })) > NOTIFY_MAX_BYTES && fitted.screen.length > 0) {
      fitted = { ...fitted, screen: fitted.screen.slice(1) };
    }
    this.node.publish({ kind: "card", classId: this.hub.classId, card: fitted });
  }

  close(): void {
    this.unsubscribe = null;
    this.onClose();
  }
}

export class ClassBus implements ClassroomCluster {
  private classrooms: Classrooms | null = null;
  /** Classes watched elsewhere that this node follows. */
  private readonly following = new Map<string, BusDashboard | Promise<void>>();
  /** Classes with a dashboard open here: announced every WATCH_EVERY_MS while one is. */
  private readonly watchedHere = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly node: ClusterNode,
    private readonly log: Logger,
  ) {
    node.onMessage((message) => this.received(message));
    this.timer = setInterval(() => this.tick(), WATCH_EVERY_MS);
    this.timer.unref();
  }

  attach(classrooms: Classrooms): void {
    this.classrooms = classrooms;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const follower of this.following.values()) if (!(follower instanceof Promise)) follower.unsubscribe?.();
    this.following.clear();
  }

  // --- ClassroomCluster: what the classroom asks of the others -------------------------------

  changed(classId: string, change: ClassChange): void {
    this.node.publish({ kind: "class", classId, change });
  }

  liveElsewhere(classId: string, memberId: string): Promise<number> {
    return this.node.classLiveElsewhere(classId, memberId);
  }

  async askOwner(classId: string, memberId: string, request: MemberRequest): Promise<MemberAnswer | null> {
    const owner = await this.node.ownerOfMember(classId, memberId);
    if (!owner || owner.id === this.node.id) return null;
    return this.node.ask(owner.id, classId, memberId, request);
  }

  async capacity(): Promise<number> {
    return (await this.node.nodes()).filter((n) => !n.gone).reduce((sum, n) => sum + n.capacity, 0);
  }

  watched(classId: string): void {
    if (!this.watchedHere.has(classId)) {
      this.watchedHere.add(classId);
      this.node.publish({ kind: "watch", classId });
    }
  }

  // --- The bus ------------------------------------------------------------------------------

  private tick(): void {
    const classrooms = this.classrooms;
    if (!classrooms) return;
    for (const classId of [...this.watchedHere]) {
      void classrooms.loadedHub(classId)?.then((hub) => {
        const followerHere = this.following.get(classId) instanceof BusDashboard ? 1 : 0;
        if (hub.dashboardCount - followerHere > 0) this.node.publish({ kind: "watch", classId });
        else this.watchedHere.delete(classId);
      }, () => this.watchedHere.delete(classId));
    }
    const now = Date.now();
    for (const [classId, follower] of this.following) {
      if (follower instanceof Promise || now - follower.lastWatchAt < FOLLOW_FOR_MS) continue;
      follower.unsubscribe?.();
      this.following.delete(classId);
    }
  }

  private received(message: BusMessage): void {
    const classrooms = this.classrooms;
    if (!classrooms || this.closed) return;
    switch (message.kind) {
      case "watch":
        this.follow(classrooms, message.classId);
        return;
      case "card":
        classrooms.remoteCard(message.from, message.classId, message.card);
        return;
      case "class":
        classrooms.applyChange(message.classId, message.change).catch((err: unknown) => {
          this.log.error({ classId: message.classId, what: message.change.what, err }, "a class change from another node could not be applied here");
        });
        return;
      case "gone":
        classrooms.nodesGone(message.nodes);
        return;
      case "ask":
        void classrooms.handleRequest(message.classId, message.memberId, message.request).then((answer) => this.node.answer(message.from, message.id, answer));
        return;
      case "resync":
        // Changes sent while this node could not hear them are lost: the classes are read
        // again from the store, and nodes that went away meanwhile are dropped from the cards.
        void (async () => {
          await classrooms.resync();
          classrooms.nodesGone((await this.node.nodes()).filter((n) => n.gone).map((n) => n.id));
        })().catch((err: unknown) => this.log.error({ err }, "could not catch up with the other nodes"));
        return;
      case "answer":
      case "echo":
        return;
    }
  }

  private follow(classrooms: Classrooms, classId: string): void {
    const existing = this.following.get(classId);
    if (existing instanceof BusDashboard) {
      existing.lastWatchAt = Date.now();
      return;
    }
    if (existing || this.following.size >= MAX_FOLLOWED) return;
    const loading = (async () => {
      try {
        const hub = await classrooms.hubFor(classId);
        const follower = new BusDashboard(this.node, hub, () => {
          if (this.following.get(classId) === follower) this.following.delete(classId);
        });
        this.following.set(classId, follower);
        follower.unsubscribe = await hub.subscribe(follower);
        if (!follower.unsubscribe || this.closed) {
          follower.unsubscribe?.();
          if (this.following.get(classId) === follower) this.following.delete(classId);
        }
      } catch (err) {
        // Followed again at the next watch.
        this.following.delete(classId);
        this.log.warn({ classId, err: (err as Error).message }, "a class watched on another node could not be followed here");
      }
    })();
    this.following.set(classId, loading);
  }
}
