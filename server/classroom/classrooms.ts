// The classroom: classes an instructor creates, the learners who join them with a code, and
// what the instructor does to them (reset, end, limits, broadcast, export, remove, a new code). Everything that
// must outlive the process (classes, members, progress, the event log) is in the store; what is
// live (sessions, cards, dashboards) is in the class's hub, loaded from the store when first
// needed. Authorisation is not here: the HTTP API lets only the instructor reach the
// instructor's methods, and a learner only ever names themselves (their cookie).
import { randomBytes, randomInt } from "node:crypto";

import {
  CLASS_DEFAULTS,
  type ClassCreateRequest,
  type ClassDetail,
  type ClassSettings,
  type ClassState,
  type ClassSummary,
  DisplayName,
  JOIN_CODE_ALPHABET,
  JOIN_CODE_LENGTH,
  JoinCode,
  type LearnerCard,
  type LimitsChangeResult,
  normalizeJoinCode,
} from "../../common/classroom";
import { type Limits, checkLimits } from "../../common/limits";
import { CloseCode } from "../../common/protocol";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { log as rootLog } from "../log";
import { DEFAULT_LIMITS } from "../sandbox/limits";
import { hostCapacity, type LabSession } from "../sessions/lab-session";
import type { ClassStart, SessionRegistry } from "../sessions/session-registry";
import { ClassCodeTakenError, ClassFullError, ClassMemberRemovedError, ClassNotOpenError, type ClassRecord, type Store } from "../store/store";
import type { ClassChange, MemberAnswer, MemberRequest } from "../cluster/cluster-node";
import { ClassHub, type Dashboard } from "./class-hub";

/** Why a class's sandbox ended, as its learner is told. */
const ARCHIVED = "The class is over: your instructor archived it.";
const REMOVED = "Your instructor removed you from this class.";

/** Classes kept at once (open or closed; archived ones do not count). */
export const MAX_ACTIVE_CLASSES = 100;

/** An instructor or learner request that cannot be done, said so that they know what to do.
 *  `status` is the HTTP status the API answers with; `field` the input at fault. */
export class ClassroomError extends Error {
  override name = "ClassroomError";
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    /** For a refused join: which refusal (common/classroom.ts JoinRefusal). */
    readonly refusal?: "unknown_code" | "closed" | "full" | "bad_name" | "removed",
  ) {
    super(message);
  }
}

/** What the classroom needs from the other nodes when it runs on several (server/cluster/):
 *  absent on a single node. */
export interface ClassroomCluster {
  /** Tells the other nodes the class changed here, so they act on their own sandboxes of it. */
  changed(classId: string, change: ClassChange): void;
  /** Sandboxes of the class on other nodes, other than the member's own. */
  liveElsewhere(classId: string, memberId: string): Promise<number>;
  /** Asks the node running the member's sandbox, if another does, to act on it; null when no
   *  other node runs one. */
  askOwner(classId: string, memberId: string, request: MemberRequest): Promise<MemberAnswer | null>;
  /** A dashboard of the class opened here: the other nodes are asked for their cards. */
  watched(classId: string): void;
  /** Sandboxes every live node holds together (a class may be that large). */
  capacity(): Promise<number>;
}

export interface ClassroomsOptions {
  store: Store;
  cluster?: ClassroomCluster | null;
  /** null when this host cannot make sandboxes: classes still work, without sandboxes. */
  registry: SessionRegistry | null;
  lessons: LessonCatalog | null;
  /** What a new class's limits start from (Config.defaultLimits); unset, the built-in ones. */
  defaultLimits?: Readonly<Limits>;
}

function newId(): string {
  return randomBytes(8).toString("hex");
}

function newJoinCode(): string {
  let code = "";
  for (let i = 0; i < JOIN_CODE_LENGTH; i++) code += JOIN_CODE_ALPHABET[randomInt(JOIN_CODE_ALPHABET.length)];
  return code;
}

function settingsOf(record: ClassRecord): ClassSettings {
  return {
    name: record.name,
    lesson: record.lesson,
    limits: { ...record.limits },
    capacity: record.capacity,
    reconnectGraceS: record.reconnectGraceS,
    sessionLifetimeS: record.sessionLifetimeS,
    idleTimeoutS: record.idleTimeoutS,
  };
}

export class Classrooms {
  private readonly hubs = new Map<string, Promise<ClassHub>>();
  /** Classes as last read or written: the hub's cards and every start read them. */
  private readonly records = new Map<string, ClassRecord>();
  private readonly log = rootLog.child({ part: "classroom" });

  constructor(private readonly options: ClassroomsOptions) {}

  // --- The instructor ------------------------------------------------------------------------

  async create(request: ClassCreateRequest): Promise<ClassDetail> {
    const { store } = this.options;
    const lessons = (await this.options.lessons?.lessonSlugs()) ?? [];
    if (!lessons.includes(request.lesson)) {
      throw new ClassroomError(400, `There is no lesson "${request.lesson}" in this course; choose one of: ${lessons.join(", ")}.`, "lesson");
    }
    const active = (await store.classes.list()).filter((c) => c.state !== "archived").length;
    if (active >= MAX_ACTIVE_CLASSES) {
      throw new ClassroomError(409, `This server already has ${active} classes that are not archived; archive the ones that are over first.`);
    }
    const limits = withSwapFollowing(this.defaultLimits, request.limits ?? {});
    const check = checkLimits(limits, hostCapacity());
    if (!check.ok) throw new ClassroomError(400, check.message, `limits.${check.field}`);
    const capacity = request.capacity ?? CLASS_DEFAULTS.capacity;
    const cluster = this.options.cluster;
    const hostRoom = cluster ? await cluster.capacity() : (this.options.registry?.capacity ?? Number.POSITIVE_INFINITY);
    if (capacity > hostRoom) {
      const where = cluster ? "The lab's servers hold" : "This server holds";
      throw new ClassroomError(400, `${where} at most ${hostRoom} sandboxes (NSLAB_MAX_SESSIONS${cluster ? " on each" : ""}); a class of ${capacity} could not all work at once.`, "capacity");
    }
    const base = {
      name: request.name,
      lesson: request.lesson,
      limits,
      capacity,
      reconnectGraceS: request.reconnectGraceS ?? CLASS_DEFAULTS.reconnectGraceS,
      sessionLifetimeS: request.sessionLifetimeS ?? CLASS_DEFAULTS.sessionLifetimeS,
      idleTimeoutS: request.idleTimeoutS ?? CLASS_DEFAULTS.idleTimeoutS,
      state: "open" as const,
      createdAtMs: Date.now(),
      lastBroadcast: null,
    };
    for (let attempt = 0; ; attempt++) {
      const record: ClassRecord = { ...base, id: newId(), code: newJoinCode() };
      try {
        await store.classes.create(record);
        this.records.set(record.id, record);
        this.log.info({ classId: record.id, code: record.code, lesson: record.lesson, capacity }, "class created");
        return (await this.hub(record.id)).detail();
      } catch (err) {
        // 31^6 codes: a clash is rare, and two in a row rarer still.
        if (err instanceof ClassCodeTakenError && attempt < 5) continue;
        throw err;
      }
    }
  }

  /** The lab's own limits: a new class starts from them, and the class form shows them. */
  get defaultLimits(): Readonly<Limits> {
    return this.options.defaultLimits ?? DEFAULT_LIMITS;
  }

  async list(): Promise<ClassSummary[]> {
    const records = await this.options.store.classes.list();
    return Promise.all(
      records.map(async (record) => {
        if (record.state !== "archived") return this.summary(record, await this.hub(record.id));
        // An archived class's hub is not loaded for a list: its members are only counted.
        return { ...this.summary(record, null), learners: (await this.options.store.classes.members(record.id)).length };
      }),
    );
  }

  async detail(classId: string): Promise<ClassDetail> {
    return (await this.hub(classId)).detail();
  }

  /** The dashboard's stream; null when the class has as many dashboards as it takes. */
  async subscribe(classId: string, dashboard: Dashboard): Promise<(() => void) | null> {
    const unsubscribe = await (await this.hub(classId)).subscribe(dashboard);
    if (unsubscribe) this.options.cluster?.watched(classId);
    return unsubscribe;
  }

  /** open, closed (no new joins) or archived (over: every sandbox is ended). */
  async setState(classId: string, state: ClassState): Promise<ClassSummary> {
    const record = await this.record(classId);
    if (record.state === "archived" && state !== "archived") throw new ClassroomError(409, "An archived class is over; create a new class instead.");
    await this.options.store.classes.setState(classId, state);
    const updated = await this.patchRecord(classId, { state });
    const hub = await this.hub(classId);
    hub.event("state", null, state);
    if (state === "archived") {
      // Every sandbox of the class, whether or not a card follows it.
      const sessions = this.options.registry?.byClass(classId) ?? hub.sessions();
      await Promise.all(sessions.map((s) => s.end(ARCHIVED, { cause: "class_closed" })));
    }
    await hub.classChanged();
    this.options.cluster?.changed(classId, { what: "state" });
    this.log.info({ classId, state }, "class state changed");
    return this.summary(updated, hub);
  }

  /** A fresh sandbox for the member: the old one ends (its page starts the new one at once),
   *  their progress is kept. */
  async reset(classId: string, memberId: string): Promise<void> {
    if (await this.askedElsewhere(classId, memberId, { op: "reset" })) return;
    const { hub, session } = await this.liveSession(classId, memberId);
    hub.event("reset", memberId, "");
    await session.end("Your instructor gave you a fresh sandbox.", { cause: "instructor", code: CloseCode.Reset });
  }

  async endSession(classId: string, memberId: string): Promise<void> {
    if (await this.askedElsewhere(classId, memberId, { op: "end" })) return;
    const { hub, session } = await this.liveSession(classId, memberId);
    hub.event("end", memberId, "ended by the instructor");
    await session.end("Your instructor ended this sandbox.", { cause: "instructor" });
  }

  /** With several nodes: a member whose sandbox is not here may have one on another node,
   *  which is asked to do it. True when it was done there; a refusal there is thrown here. */
  private async askedElsewhere(classId: string, memberId: string, request: MemberRequest): Promise<{ value: unknown } | null> {
    const cluster = this.options.cluster;
    if (!cluster || (await this.hub(classId)).session(memberId)) return null;
    const answer = await cluster.askOwner(classId, memberId, request);
    if (!answer) return null;
    if (!answer.ok) throw new ClassroomError(answer.status, answer.message);
    return { value: answer.value };
  }

  /** Another node asks this one to act on a member's sandbox running here. */
  async handleRequest(classId: string, memberId: string, request: MemberRequest): Promise<MemberAnswer> {
    try {
      if (!(await this.hub(classId)).session(memberId)) return { ok: false, status: 409, message: "That learner's sandbox is no longer running on the server that was asked." };
      if (request.op === "reset") await this.reset(classId, memberId);
      else if (request.op === "end") await this.endSession(classId, memberId);
      else return { ok: true, value: await this.changeLimits(classId, request.change, memberId) };
      return { ok: true, value: null };
    } catch (err) {
      if (err instanceof ClassroomError) return { ok: false, status: err.status, message: err.message };
      this.log.error({ classId, op: request.op, err }, "a request from another node failed");
      return { ok: false, status: 500, message: "The server running this learner's sandbox could not do it." };
    }
  }

  /**
   * New limits for one member's sandbox, or (no memberId) for every live sandbox of the class
   * and for every sandbox it starts from now on. The same checks as docker update against this
   * host; a sandbox the kernel refuses it (more memory in use than the new limit) keeps its
   * limits and says why.
   */
  async changeLimits(classId: string, change: Partial<Limits>, memberId?: string): Promise<LimitsChangeResult> {
    const record = await this.record(classId);
    if (record.state === "archived") throw new ClassroomError(409, "The class is archived; its sandboxes are gone.");
    const hub = await this.hub(classId);
    const merged = withSwapFollowing(record.limits, change);
    const check = checkLimits(merged, hostCapacity());
    if (!check.ok) throw new ClassroomError(400, check.message, `limits.${check.field}`);
    let targets: Array<{ memberId: string; name: string; session: LabSession }>;
    if (memberId) {
      const member = hub.member(memberId);
      if (!member) throw new ClassroomError(404, "That learner is not in this class.");
      const elsewhere = await this.askedElsewhere(classId, memberId, { op: "limits", change });
      if (elsewhere) return elsewhere.value as LimitsChangeResult;
      const session = hub.session(memberId);
      if (!session) throw new ClassroomError(409, `${member.displayName} has no sandbox running; their next one starts with the class's limits.`);
      targets = [{ memberId, name: member.displayName, session }];
    } else {
      await this.options.store.classes.setLimits(classId, merged);
      await this.patchRecord(classId, { limits: merged });
      targets = hub.members().flatMap((m) => {
        const session = hub.session(m.memberId);
        return session ? [{ memberId: m.memberId, name: m.displayName, session }] : [];
      });
    }
    const results = targets.map(({ memberId: id, name, session }) => {
      const limits = withSwapFollowing(session.sandbox.limits, change);
      const outcome = session.setLimitsByInstructor(limits);
      return { memberId: id, name, ok: outcome.ok, message: outcome.ok ? null : outcome.message };
    });
    hub.event("limits", memberId ?? null, JSON.stringify(change));
    if (!memberId) {
      await hub.classChanged();
      // The other nodes apply it to their sandboxes of the class; their refusals are in their
      // logs and on the learners' cards, not in this answer.
      this.options.cluster?.changed(classId, { what: "limits", change });
    }
    return { limits: memberId ? (targets[0]?.session.sandbox.limits ?? merged) : merged, results };
  }

  async broadcast(classId: string, text: string): Promise<{ text: string; sentAtMs: number }> {
    const record = await this.record(classId);
    if (record.state === "archived") throw new ClassroomError(409, "The class is archived; nobody is there to read it.");
    const broadcast = { text, sentAtMs: Date.now() };
    await this.options.store.classes.setLastBroadcast(classId, broadcast);
    await this.patchRecord(classId, { lastBroadcast: broadcast });
    const hub = await this.hub(classId);
    for (const session of hub.sessions()) session.broadcastToClass(broadcast);
    hub.event("broadcast", null, text);
    await hub.classChanged();
    this.options.cluster?.changed(classId, { what: "broadcast", broadcast });
    return broadcast;
  }

  /**
   * Takes the member out of the class: their sandboxes end, their card goes from every
   * dashboard, their place is free for someone else, and their learner (the cookie) cannot
   * join the class again. What they did stays in the event log and in their own progress.
   */
  async removeMember(classId: string, memberId: string): Promise<void> {
    const record = await this.record(classId);
    if (record.state === "archived") throw new ClassroomError(409, "The class is archived: its sandboxes are gone and nobody can join it, so there is nobody to remove.");
    const hub = await this.hub(classId);
    const name = hub.member(memberId)?.displayName ?? "";
    // Marked in the store before the sandboxes end: from then on their page can neither join
    // again nor start a sandbox as this class's (planStart reads live memberships only), so
    // what is ended below stays ended.
    if (!(await this.options.store.classes.removeMember(classId, memberId, Date.now()))) {
      throw new ClassroomError(404, "That learner is not in this class (they may have been removed already). Reload the dashboard to see who is.");
    }
    // Every sandbox that is theirs, whether or not their card follows it (one that is still
    // starting is caught by started()).
    const sessions = (this.options.registry?.byClass(classId) ?? hub.sessions()).filter((session) => session.classroom?.memberId === memberId);
    await Promise.all(sessions.map((session) => session.end(REMOVED, { cause: "instructor" })));
    hub.memberRemoved(memberId);
    hub.event("remove", memberId, name);
    this.options.cluster?.changed(classId, { what: "remove", memberId });
    this.log.info({ classId, memberId, sandboxes: sessions.length }, "member removed");
  }

  /**
   * A new join code for the class, when the old one has got out (posted where it should not
   * be, used to fill the class): the old code and its link stop working at once. Members keep
   * their place; they never need the code again.
   */
  async newCode(classId: string): Promise<ClassSummary> {
    const record = await this.record(classId);
    if (record.state === "archived") throw new ClassroomError(409, "The class is archived: nobody can join it, so it needs no new code.");
    for (let attempt = 0; ; attempt++) {
      let code = newJoinCode();
      // The same code again would leave the old one working: one in 31^6, but cheap to rule out.
      while (code === record.code) code = newJoinCode();
      try {
        if (!(await this.options.store.classes.setCode(classId, code))) throw new ClassroomError(404, "There is no such class.");
      } catch (err) {
        // As in create(): a clash with another class's code is rare, and two in a row rarer.
        if (err instanceof ClassCodeTakenError && attempt < 5) continue;
        throw err;
      }
      const updated = await this.patchRecord(classId, { code });
      const hub = await this.hub(classId);
      hub.event("code", null, code);
      await hub.classChanged();
      this.options.cluster?.changed(classId, { what: "code" });
      this.log.info({ classId, code }, "class join code changed");
      return this.summary(updated, hub);
    }
  }

  /** The class's progress as CSV: a row per learner, a column per lab step (when it was done). */
  async progressCsv(classId: string): Promise<{ filename: string; body: string }> {
    const record = await this.record(classId);
    const hub = await this.hub(classId);
    const steps = (await this.options.lessons?.steps(record.lesson)) ?? [];
    const header = ["name", "joined", "steps done", ...steps.map((s) => s.id), "oom kills", "status"];
    const rows = hub.cardList().map((card) => {
      const done = new Map(card.steps.map((s) => [s.id, s.completedAtMs]));
      return [
        card.name,
        new Date(card.joinedAtMs).toISOString(),
        String(steps.filter((s) => done.has(s.id)).length),
        ...steps.map((s) => {
          const at = done.get(s.id);
          return at === undefined ? "" : new Date(at).toISOString();
        }),
        String(card.oomKills),
        card.status,
      ];
    });
    const body = [header, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
    const slug = record.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "class";
    return { filename: `${slug}-progress.csv`, body };
  }

  // --- Learners ------------------------------------------------------------------------------

  /** The learner (their cookie) joins the class with this code under `name`. */
  async join(typedCode: string, typedName: string, learnerId: string): Promise<{ record: ClassRecord; displayName: string }> {
    const code = normalizeJoinCode(typedCode);
    // A code with a letter no code has (0, O, 1, I, L) is simply no class's.
    const record = JoinCode.safeParse(code).success ? await this.options.store.classes.byCode(code) : null;
    if (!record) throw new ClassroomError(404, "No class has that code. Check it with your instructor; codes are 6 letters and digits.", "code", "unknown_code");
    if (record.state === "archived") {
      throw new ClassroomError(409, "This class is over. Ask your instructor for the code of their current class.", "code", "closed");
    }
    const name = DisplayName.safeParse(typedName);
    if (!name.success) throw new ClassroomError(400, `${capitalise(name.error.issues[0]?.message ?? "that name is not valid")}.`, "name", "bad_name");
    try {
      const { member, created } = await this.options.store.classes.join({
        classId: record.id,
        learnerId,
        memberId: newId(),
        displayName: name.data,
        atMs: Date.now(),
      });
      const hub = await this.hub(record.id);
      const done = created ? await this.options.store.progress.completed(learnerId, record.lesson) : null;
      hub.memberJoined(member, done);
      this.options.cluster?.changed(record.id, { what: "joined", member });
      if (created) {
        hub.event("join", member.memberId, member.displayName);
        this.log.info({ classId: record.id, memberId: member.memberId }, "learner joined");
      }
      // A rename reaches the sandbox's banner on its next start.
      return { record, displayName: member.displayName };
    } catch (err) {
      if (err instanceof ClassFullError) {
        throw new ClassroomError(409, `This class is full (${err.capacity === 1 ? "its one place is" : `all ${err.capacity} places are`} taken). Ask your instructor to make room, or to open another class.`, "code", "full");
      }
      if (err instanceof ClassNotOpenError) {
        throw new ClassroomError(409, "This class is closed to new learners. Ask your instructor whether it has moved to another code.", "code", "closed");
      }
      if (err instanceof ClassMemberRemovedError) {
        // 403: the answer is no for this learner, whatever the class's state or room.
        throw new ClassroomError(403, "Your instructor removed you from this class. Ask them if that was a mistake.", "code", "removed");
      }
      throw err;
    }
  }

  /**
   * What a learner's new sandbox for `lesson` belongs to: the latest class they joined for
   * that lesson that is not archived, or null (a learner on their own). Throws a
   * ClassroomError when the class has no room.
   */
  async planStart(learnerId: string, lesson: string | undefined): Promise<ClassStart | null> {
    if (!lesson) return null;
    const memberships = await this.options.store.classes.membershipsOf(learnerId);
    for (const member of memberships) {
      const record = await this.record(member.classId).catch(() => null);
      if (!record || record.state === "archived" || record.lesson !== lesson) continue;
      return {
        classId: record.id,
        memberId: member.memberId,
        className: record.name,
        displayName: member.displayName,
        lifetimeMs: record.sessionLifetimeS * 1000,
        idleMs: record.idleTimeoutS * 1000,
        lastBroadcast: record.lastBroadcast,
        limits: { ...record.limits },
        graceMs: record.reconnectGraceS * 1000,
        capacity: record.capacity,
        liveElsewhere: (await this.options.cluster?.liveElsewhere(record.id, member.memberId)) ?? 0,
      };
    }
    return null;
  }

  /** A class member's session started: the class's hub follows it. */
  async started(session: LabSession): Promise<void> {
    const classroom = session.classroom;
    if (!classroom) return;
    const hub = await this.hub(classroom.classId);
    // Archived while this one was starting: it must not outlive the class.
    if ((await this.record(classroom.classId)).state === "archived") {
      await session.end(ARCHIVED, { cause: "class_closed" });
      return;
    }
    // Removed while this one was starting (its start read the membership just before): it
    // must not run as the class's. The store, not the card, says who is a member.
    if (!(await this.options.store.classes.member(classroom.classId, classroom.memberId))) {
      await session.end(REMOVED, { cause: "instructor" });
      return;
    }
    hub.sessionStarted(classroom.memberId, session);
  }

  /** The member's live session, for the instructor's look over the shoulder. */
  async sessionFor(classId: string, memberId: string): Promise<LabSession | null> {
    const record = await this.record(classId).catch(() => null);
    if (!record) return null;
    return (await this.hub(classId)).session(memberId);
  }

  // --- The other nodes (server/cluster/) ----------------------------------------------------

  /** A class changed on another node: what is kept of it here is read again, and this
   *  node's own sandboxes of the class are acted on as that node acted on its own. */
  async applyChange(classId: string, change: ClassChange): Promise<void> {
    this.records.delete(classId);
    const hub = this.hubs.has(classId) ? await this.hub(classId) : null;
    const record = await this.record(classId);
    const sessions = this.options.registry?.byClass(classId) ?? [];
    switch (change.what) {
      case "state":
        if (record.state === "archived") await this.endHere(classId, ARCHIVED);
        break;
      case "limits":
        for (const session of sessions) {
          const outcome = session.setLimitsByInstructor(withSwapFollowing(session.sandbox.limits, change.change));
          if (!outcome.ok) this.log.warn({ classId, memberId: session.classroom?.memberId, reason: outcome.message }, "a sandbox kept its limits");
        }
        break;
      case "broadcast":
        for (const session of sessions) session.broadcastToClass(change.broadcast);
        break;
      case "remove":
        await this.endHere(classId, REMOVED, change.memberId);
        hub?.memberRemoved(change.memberId);
        break;
      case "joined":
        hub?.memberJoined(change.member, await this.options.store.progress.completed(change.member.learnerId, record.lesson));
        break;
      case "code":
      case "settings":
        break;
    }
    await hub?.classChanged();
  }

  /** What other nodes said while this one could not hear them is lost: every class record is
   *  read again, and each class in use here is brought in line with the store (its members,
   *  and its sandboxes here, should it have been archived or a member removed meanwhile). */
  async resync(): Promise<void> {
    this.records.clear();
    for (const [classId, loading] of this.hubs) {
      const hub = await loading.catch(() => null);
      if (!hub) continue;
      try {
        const record = await this.record(classId);
        const members = await this.options.store.classes.members(classId);
        const current = new Set(members.map((m) => m.memberId));
        for (const member of hub.members()) {
          if (current.has(member.memberId)) continue;
          await this.endHere(classId, REMOVED, member.memberId);
          hub.memberRemoved(member.memberId);
        }
        for (const member of members) if (!hub.member(member.memberId)) hub.memberJoined(member, await this.options.store.progress.completed(member.learnerId, record.lesson));
        if (record.state === "archived") await this.endHere(classId, ARCHIVED);
        await hub.classChanged();
      } catch (err) {
        this.log.error({ classId, err }, "a class could not be brought in line with the store");
      }
    }
  }

  /** Ends this node's sandboxes of the class (of one member, with `memberId`). */
  private async endHere(classId: string, reason: string, memberId?: string): Promise<void> {
    const sessions = (this.options.registry?.byClass(classId) ?? []).filter((s) => memberId === undefined || s.classroom?.memberId === memberId);
    await Promise.all(sessions.map((s) => s.end(reason, { cause: memberId === undefined ? "class_closed" : "instructor" })));
  }

  /** The card of a member whose sandbox runs on node `node`, for this node's dashboards. */
  remoteCard(node: string, classId: string, card: LearnerCard): void {
    void this.hubs.get(classId)?.then((hub) => hub.remoteCard(node, card), () => undefined);
  }

  /** Nodes that went away: their learners' cards stop showing their sandboxes. */
  nodesGone(nodes: readonly string[]): void {
    for (const hub of this.hubs.values()) void hub.then((h) => h.nodesGone(nodes), () => undefined);
  }

  /** A class's hub, loaded if need be, for a dashboard open on another node. */
  hubFor(classId: string): Promise<ClassHub> {
    return this.hub(classId);
  }

  /** Hubs loaded here (a class's hub is loaded when it is first needed). */
  loadedHub(classId: string): Promise<ClassHub> | undefined {
    return this.hubs.get(classId);
  }

  /** Lets every dashboard go (server shutdown); their pages reconnect to the next server. */
  async close(): Promise<void> {
    for (const hub of this.hubs.values()) (await hub.catch(() => null))?.closeDashboards(null);
  }

  // --- Inside --------------------------------------------------------------------------------

  /** The cached record with `patch` laid over what it is now (not over a copy read before an
   *  await: two changes made at once must both be kept). */
  private async patchRecord(classId: string, patch: Partial<ClassRecord>): Promise<ClassRecord> {
    // Not cached (another node's change made this one forget it while the write was under
    // way): read again, the write included.
    if (!this.records.has(classId)) return this.record(classId);
    const current = this.records.get(classId) as ClassRecord;
    const updated = { ...current, ...patch };
    this.records.set(classId, updated);
    return updated;
  }

  private async record(classId: string): Promise<ClassRecord> {
    const cached = this.records.get(classId);
    if (cached) return cached;
    const record = await this.options.store.classes.get(classId);
    if (!record) throw new ClassroomError(404, "There is no such class. It may have been made on another server; check the address.");
    this.records.set(classId, record);
    return record;
  }

  private hub(classId: string): Promise<ClassHub> {
    let hub = this.hubs.get(classId);
    if (!hub) {
      const loading = this.record(classId).then(() =>
        ClassHub.load(classId, {
          store: this.options.store,
          log: this.log.child({ classId }),
          detailBase: () => this.detailBase(classId),
        }),
      );
      hub = loading;
      this.hubs.set(classId, loading);
      // A class that could not be read is read again next time.
      loading.catch(() => {
        if (this.hubs.get(classId) === loading) this.hubs.delete(classId);
      });
      void loading.then((loaded) => {
        for (const session of this.options.registry?.byClass(classId) ?? []) if (session.classroom) loaded.sessionStarted(session.classroom.memberId, session);
      }, () => undefined);
    }
    return hub;
  }

  private async detailBase(classId: string): Promise<Omit<ClassDetail, "learners">> {
    const record = await this.record(classId);
    const hub = await this.hubs.get(classId);
    const steps = (await this.options.lessons?.steps(record.lesson)) ?? [];
    return {
      class: this.summary(record, hub ?? null),
      settings: settingsOf(record),
      steps: steps.map((s) => ({ id: s.id, title: s.title })),
      lastBroadcast: record.lastBroadcast,
    };
  }

  private summary(record: ClassRecord, hub: ClassHub | null): ClassSummary {
    return {
      id: record.id,
      code: record.code,
      name: record.name,
      lesson: record.lesson,
      state: record.state,
      createdAtMs: record.createdAtMs,
      capacity: record.capacity,
      learners: hub?.memberCount ?? 0,
      live: hub?.liveCount ?? 0,
    };
  }

  private async liveSession(classId: string, memberId: string): Promise<{ hub: ClassHub; session: LabSession }> {
    const hub = await this.hub(classId);
    const member = hub.member(memberId);
    if (!member) throw new ClassroomError(404, "That learner is not in this class.");
    const session = hub.session(memberId);
    if (!session) throw new ClassroomError(409, `${member.displayName} has no sandbox running right now.`);
    return { hub, session };
  }
}

/** `change` applied to `limits`. A sandbox without swap (memory-swap equal to memory) stays
 *  without it when only its memory changes: what an instructor lowering everyone's memory
 *  means, where docker would leave the old memory-swap and so give the difference as swap. */
function withSwapFollowing(limits: Readonly<Limits>, change: Partial<Limits>): Limits {
  const merged = { ...limits, ...change };
  if (change.memoryBytes !== undefined && change.memorySwapBytes === undefined && limits.memorySwapBytes === limits.memoryBytes) {
    merged.memorySwapBytes = merged.memoryBytes;
  }
  return merged;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One CSV field (RFC 4180), and never a formula: a name that starts with = + - @ is opened
 *  by a spreadsheet as text, not run. */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
