// The classroom's shapes: what the instructor's dashboard and the learners' join pages send to
// the server's JSON API under /api (server/http/classes-api.ts), and what it answers. Both ends
// parse with these schemas, so a field renamed on one side fails loudly on the other.
//
// This module is shared by the browser and the server: no DOM, no Node.

import { z } from "zod";

import { LessonSlug } from "./lesson";
import { Limits } from "./limits";

/** Join codes are read aloud and typed from a projector: no 0/O, 1/I/L lookalikes. */
export const JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const JOIN_CODE_LENGTH = 6;
export const JoinCode = z.string().regex(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/, "a join code is 6 letters and digits");
export type JoinCode = z.infer<typeof JoinCode>;

/** What a learner typed, as a code: case, spaces and dashes do not matter ("abc-234" is ABC234). */
export function normalizeJoinCode(typed: string): string {
  return typed.replace(/[\s-]+/g, "").toUpperCase();
}

/** A class's id and a member's id: 16 random hex digits. A member id is not the learner's
 *  cookie: the instructor never sees the credential that a learner's sandbox answers to. */
export const ClassId = z.string().regex(/^[0-9a-f]{16}$/, "a class id is 16 hex digits");
export const MemberId = z.string().regex(/^[0-9a-f]{16}$/, "a member id is 16 hex digits");

export const DISPLAY_NAME_MAX = 40;
export const CLASS_NAME_MAX = 80;
export const BROADCAST_MAX = 500;

/** Control characters (C0, DEL, C1) and the bidirectional overrides that would let a name
 *  print itself backwards on the dashboard. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Free text typed by a person, as it is kept: NFC, runs of white space as one space, trimmed. */
function tidyText(text: string): string {
  return text.normalize("NFC").replace(/\s+/g, " ").trim();
}

function typedText(what: string, max: number) {
  return z
    .string()
    .transform(tidyText)
    .pipe(
      z
        .string()
        .min(1, `${what} cannot be empty`)
        .max(max, `${what} can be at most ${max} characters`)
        .refine((t) => !UNPRINTABLE.test(t), `${what} cannot contain control characters`),
    );
}

/** A learner's name as the class sees it. Stored and shown as text, never as markup. */
export const DisplayName = typedText("a name", DISPLAY_NAME_MAX);
export const ClassName = typedText("a class name", CLASS_NAME_MAX);
export const BroadcastText = z
  .string()
  .transform((t) => t.normalize("NFC").trim())
  .pipe(
    z
      .string()
      .min(1, "a message cannot be empty")
      .max(BROADCAST_MAX, `a message can be at most ${BROADCAST_MAX} characters`)
      .refine((t) => !/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(t), "a message cannot contain control characters"),
  );

/** The most learners one class takes. */
export const MAX_CLASS_CAPACITY = 200;

export const ClassSettings = z.object({
  name: ClassName,
  lesson: LessonSlug,
  /** Every learner's sandbox starts with these; the instructor may lower or raise them later. */
  limits: z.object(Limits.shape),
  /** Learners who may join (and so sandboxes at once). */
  capacity: z.number().int().min(1).max(MAX_CLASS_CAPACITY),
  /** How long a learner's sandbox waits for their page to come back. */
  reconnectGraceS: z.number().int().min(0).max(86_400),
  /** A sandbox is ended this long after it started, whatever it is doing. */
  sessionLifetimeS: z.number().int().min(5).max(7 * 86_400),
  /** A sandbox nobody typed into for this long is ended. */
  idleTimeoutS: z.number().int().min(5).max(86_400),
});
export type ClassSettings = z.infer<typeof ClassSettings>;

/** What the instructor fills in; what is left out takes the defaults below. */
export const ClassCreateRequest = ClassSettings.partial({ limits: true, capacity: true, reconnectGraceS: true, sessionLifetimeS: true, idleTimeoutS: true }).extend({
  limits: z.object(Limits.shape).partial().optional(),
});
export type ClassCreateRequest = z.infer<typeof ClassCreateRequest>;

export const CLASS_DEFAULTS = {
  capacity: 40,
  reconnectGraceS: 300,
  sessionLifetimeS: 3 * 3600,
  idleTimeoutS: 30 * 60,
} as const satisfies Partial<ClassSettings>;

/** open: learners join; closed: nobody new joins, members keep working; archived: over, its
 *  sandboxes ended, kept for its progress and events. */
export const ClassState = z.enum(["open", "closed", "archived"]);
export type ClassState = z.infer<typeof ClassState>;

export const Broadcast = z.object({ text: z.string(), sentAtMs: z.number().int() });
export type Broadcast = z.infer<typeof Broadcast>;

export const ClassSummary = z.object({
  id: ClassId,
  code: JoinCode,
  name: z.string(),
  lesson: LessonSlug,
  state: ClassState,
  createdAtMs: z.number().int(),
  capacity: z.number().int(),
  /** Learners who joined. */
  learners: z.number().int().min(0),
  /** Of them, with a live sandbox now. */
  live: z.number().int().min(0),
});
export type ClassSummary = z.infer<typeof ClassSummary>;

/** Where a learner stands, as the dashboard shows it. waiting: joined, no sandbox yet;
 *  connected: their page is attached; idle: attached, nothing typed for a while; reconnecting:
 *  their page went and the sandbox waits for it; ended: the sandbox is gone. */
export const LearnerStatus = z.enum(["waiting", "connected", "idle", "reconnecting", "ended"]);
export type LearnerStatus = z.infer<typeof LearnerStatus>;

/** The lines of a learner's screen a card shows, and their widest. */
export const CARD_SCREEN_LINES = 6;
export const CARD_SCREEN_COLUMNS = 120;

export const LearnerCard = z.object({
  memberId: MemberId,
  name: z.string(),
  joinedAtMs: z.number().int(),
  status: LearnerStatus,
  /** Lab steps done, by id, with when. */
  steps: z.array(z.object({ id: z.string(), completedAtMs: z.number().int() })),
  /** When the learner last typed, or null. */
  lastInputAtMs: z.number().int().nullable(),
  /** The live sandbox, or null when there is none. */
  sandbox: z
    .object({
      hostname: z.string(),
      startedAtMs: z.number().int(),
      limits: z.object(Limits.shape),
      memoryBytes: z.number().nullable(),
      pids: z.number().nullable(),
    })
    .nullable(),
  /** OOM kills in this learner's sandboxes since they joined (from the class's event log). */
  oomKills: z.number().int().min(0),
  /** The last lines of their screen, as text. */
  screen: z.array(z.string()),
  /** Why their last sandbox ended, once one has. */
  endReason: z.string().nullable(),
});
export type LearnerCard = z.infer<typeof LearnerCard>;

export const LessonStepInfo = z.object({ id: z.string(), title: z.string() });

export const ClassDetail = z.object({
  class: ClassSummary,
  settings: ClassSettings,
  /** The lesson's lab steps, in order. */
  steps: z.array(LessonStepInfo),
  learners: z.array(LearnerCard),
  lastBroadcast: Broadcast.nullable(),
});
export type ClassDetail = z.infer<typeof ClassDetail>;

/** GET /api/classes: the classes, and the limits a new class starts from (the lab's own). */
export const ClassList = z.object({ classes: z.array(ClassSummary), defaultLimits: Limits });

/**
 * The dashboard's one stream (GET /api/classes/<id>/events, server-sent events): `detail`
 * first, whole; then `cards`, the cards that changed, coalesced so that a card is sent at most
 * once per update period however often it changes; `class` when the class itself changes;
 * `removed` when cards go away (the instructor removed those members), since `cards` only
 * ever adds or replaces.
 */
export const DashboardEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("detail"), detail: ClassDetail }),
  z.object({ type: z.literal("cards"), cards: z.array(LearnerCard) }),
  z.object({ type: z.literal("removed"), memberIds: z.array(MemberId) }),
  z.object({ type: z.literal("class"), class: ClassSummary, lastBroadcast: Broadcast.nullable(), settings: ClassSettings }),
]);
export type DashboardEvent = z.infer<typeof DashboardEvent>;

/** How often, at most, the dashboard's stream carries changed cards. */
export const DASHBOARD_UPDATE_MS = 500;

export const LimitsChangeRequest = z.object({
  limits: z
    .object(Limits.shape)
    .partial()
    .refine((l) => Object.keys(l).length > 0, "give at least one limit"),
});
export type LimitsChangeRequest = z.infer<typeof LimitsChangeRequest>;

/** What a change of limits did, learner by learner: a sandbox that refused the change (it uses
 *  more memory than the new limit) keeps its old limits and says why. */
export const LimitsChangeResult = z.object({
  limits: z.object(Limits.shape),
  results: z.array(z.object({ memberId: MemberId, name: z.string(), ok: z.boolean(), message: z.string().nullable() })),
});
export type LimitsChangeResult = z.infer<typeof LimitsChangeResult>;

export const BroadcastRequest = z.object({ message: BroadcastText });

export const JoinRequest = z.object({ code: z.string().max(64), name: z.string().max(20_000) });

/** What a join answers: the lesson page to go to. */
export const JoinResult = z.object({ lessonPath: z.string(), className: z.string(), name: z.string() });

/** Every error the API answers with: a sentence that says what to do, and the field at fault. */
export const ApiError = z.object({ error: z.string(), field: z.string().optional() });
export type ApiError = z.infer<typeof ApiError>;

/** Why a join was refused, as /join/<CODE>?error=… names it for a page without script. */
export const JoinRefusal = z.enum(["unknown_code", "closed", "full", "bad_name", "rate_limited", "removed"]);
export type JoinRefusal = z.infer<typeof JoinRefusal>;

export const joinRefusalText: Record<JoinRefusal, string> = {
  unknown_code: "No class has that code. Check it with your instructor; codes are 6 letters and digits.",
  closed: "This class is closed to new learners. Ask your instructor whether it has moved to another code.",
  full: "This class is full. Ask your instructor to make room, or to open another class.",
  bad_name: "Type the name the class should know you by (1 to 40 characters, no control characters).",
  rate_limited: "Too many attempts from this address. Wait a minute, then try again.",
  removed: "Your instructor removed you from this class. Ask them if that was a mistake.",
};

/** The instructor's cookie (HttpOnly, SameSite=Strict): an opaque token the server keeps the
 *  hash of. */
export const INSTRUCTOR_COOKIE = "nslab_teach";
