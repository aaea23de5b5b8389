// One nslab node among several sharing a PostgreSQL database. The database is the only thing
// the nodes share: each node registers itself in `nodes` and keeps its row's heartbeat fresh,
// records each sandbox it runs in `live_sessions`, and speaks to the others over one
// LISTEN/NOTIFY channel (the class's cards, changes and requests; see ClusterBus below). No
// node is special: each sweeps the table for nodes whose heartbeat stopped, marks them gone
// and deletes their sessions, and the UPDATE's row locks make one node win each sweep.
//
// A node that is declared gone while it is still running (a long pause, a partition from the
// database) finds out at its next heartbeat: it registers again and records its sessions
// again, so that its learners' reconnects find them. Every heartbeat also writes this node's
// live sessions again (and deletes its rows of sessions that ended), so a record write lost to
// a database blip is repaired within a heartbeat.
//
// Every time in these tables is the database's clock (NOW_MS), never a node's: nodes whose
// clocks disagree must not sweep each other.
import { randomBytes } from "node:crypto";

import pg from "pg";

import type { LearnerCard } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import type { Logger } from "../log";
import type { MemberRecord } from "../store/store";

/** The one channel every node listens on. */
export const CLUSTER_CHANNEL = "nslab_cluster";
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
export const NOTIFY_MAX_BYTES = 7_900;
/** Messages waiting to be sent on the bus, at most: past it new ones are dropped (and logged),
 *  since a card is sent again at its next change and a watch every few seconds. */
export const BUS_MAX_PENDING = 2_000;
/** How long a request to another node waits for its answer. */
export const ASK_TIMEOUT_MS = 5_000;
/** Requests to other nodes waiting for their answer, at most. */
const MAX_OPEN_ASKS = 256;
/** Nodes gone this long are forgotten (a rollout names every pod anew). */
const FORGET_GONE_NODES_MS = 24 * 3600_000;
/** The database's time, in milliseconds since the epoch. */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

export interface NodeRef {
  id: string;
  address: string;
}

/** A class changed on one node: the others refresh what they keep of it and act on their own
 *  sandboxes of the class. */
export type ClassChange =
  | { what: "state" | "code" | "settings" }
  | { what: "limits"; change: Partial<Limits> }
  | { what: "broadcast"; broadcast: { text: string; sentAtMs: number } }
  | { what: "remove"; memberId: string }
  | { what: "joined"; member: MemberRecord };

/** What one node asks the node running a member's sandbox to do to it. */
export type MemberRequest = { op: "reset" } | { op: "end" } | { op: "limits"; change: Partial<Limits> };

export type MemberAnswer = { ok: true; value: unknown } | { ok: false; status: number; message: string };

export type BusMessage =
  /** A dashboard of the class is open on `from`: nodes with its learners send their cards. */
  | { kind: "watch"; from: string; classId: string }
  | { kind: "card"; from: string; classId: string; card: LearnerCard }
  | { kind: "class"; from: string; classId: string; change: ClassChange }
  | { kind: "gone"; from: string; nodes: string[] }
  | { kind: "ask"; from: string; to: string; id: string; classId: string; memberId: string; request: MemberRequest }
  | { kind: "answer"; from: string; to: string; id: string; answer: MemberAnswer }
  /** Sent by a node to itself every heartbeat: its coming back proves the LISTEN connection
   *  works (an idle connection a NAT dropped says nothing). */
  | { kind: "echo"; from: string; n: number }
  /** Delivered locally only, when the LISTEN connection is back: what was sent meanwhile is
   *  lost, so what is kept from other nodes' messages must be read again. */
  | { kind: "resync"; from: string };

type Distribute<T> = T extends unknown ? Omit<T, "from"> : never;
export type OutgoingMessage = Distribute<BusMessage>;

export interface ClusterNodeOptions {
  /** The store's pool, for the lookups. */
  pool: pg.Pool;
  /** For the connections of the node's own: LISTEN, and the heartbeat's, which a flood of
   *  lookups on the shared pool must not hold up (the others would sweep this node). */
  databaseUrl: string;
  nodeId: string;
  /** Where the other nodes reach this one (http://host:port). */
  address: string;
  capacity: number;
  heartbeatMs: number;
  /** Sandboxes counted against the capacity now (live, starting, being torn down). */
  occupied: () => number;
  log: Logger;
}

/** A session as live_sessions keeps it. */
export interface LiveSessionRow {
  sessionId: string;
  learnerId: string;
  lesson: string | null;
  classId: string | null;
  memberId: string | null;
  startedAtMs: number;
}

export class ClusterNode {
  /** Missed heartbeats after which a node is gone. */
  static readonly MISSED_HEARTBEATS = 3;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private readonly live = new Map<string, LiveSessionRow>();
  /** The write of each session's row, so that its delete goes after its insert. */
  private readonly rowWrites = new Map<string, Promise<void>>();
  private pending = 0;
  private sendChain: Promise<unknown> = Promise.resolve();
  private readonly asks = new Map<string, { resolve: (answer: MemberAnswer) => void; timer: NodeJS.Timeout }>();
  private handler: (message: BusMessage) => void = () => undefined;
  private stopped = false;
  /** The LISTEN connection, while it is up; the bus's messages are sent on it too. */
  private listener: pg.Client | null = null;
  private relistenTimer: NodeJS.Timeout | null = null;
  /** The echo this node sent (and PostgreSQL took) that has not come back, and since when. */
  private echoOutstanding: { n: number; since: number } | null = null;
  private echoesSent = 0;
  private echoesBack = 0;
  private readonly beatPool: pg.Pool;

  constructor(private readonly options: ClusterNodeOptions) {
    // A query stuck on a half-open connection must not stop the heartbeat for good.
    this.beatPool = new pg.Pool({ ...this.connection("heartbeat"), max: 1 });
    this.beatPool.on("error", (err) => options.log.warn({ err: err.message }, "the heartbeat's database connection failed; it reconnects"));
  }

  get id(): string {
    return this.options.nodeId;
  }

  /** A node whose heartbeat is older than this is treated as gone (and swept). */
  get goneAfterMs(): number {
    return this.options.heartbeatMs * ClusterNode.MISSED_HEARTBEATS;
  }

  /** Who handles the bus's messages from the other nodes (and this node's own sweeps). */
  onMessage(handler: (message: BusMessage) => void): void {
    this.handler = handler;
  }

  async start(): Promise<void> {
    const { nodeId } = this.options;
    await this.register(0);
    // Sessions a previous run of this node recorded died with it.
    await this.beatPool.query("DELETE FROM live_sessions WHERE node_id = $1", [nodeId]);
    await this.listen();
    this.heartbeatTimer = setInterval(() => {
      if (!this.beating) this.beating = this.heartbeat().finally(() => (this.beating = null));
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    this.options.log.info({ nodeId, address: this.options.address, heartbeatMs: this.options.heartbeatMs }, "node registered in the cluster");
  }

  private register(occupied: number): Promise<unknown> {
    return this.beatPool.query(
      `INSERT INTO nodes (id, address, capacity, live_sessions, started_at_ms, heartbeat_at_ms, gone_at_ms)
       VALUES ($1, $2, $3, $4, ${NOW_MS}, ${NOW_MS}, NULL)
       ON CONFLICT (id) DO UPDATE SET address = $2, capacity = $3, live_sessions = $4, heartbeat_at_ms = ${NOW_MS}, gone_at_ms = NULL`,
      [this.options.nodeId, this.options.address, this.options.capacity, occupied],
    );
  }

  /** Connects the LISTEN client. Lost later (PostgreSQL restarted, a network blip), it is
   *  connected again every heartbeat until it is back: cards and class changes from the
   *  others stop meanwhile, and the log says so. */
  private async listen(): Promise<void> {
    const client = new pg.Client(this.connection("listen"));
    client.on("notification", (n) => {
      if (n.channel === CLUSTER_CHANNEL && n.payload) this.received(n.payload);
    });
    client.on("error", (err) => this.listenerLost(client, err.message));
    client.on("end", () => this.listenerLost(client, "the connection ended"));
    try {
      await client.connect();
      await client.query(`LISTEN ${CLUSTER_CHANNEL}`);
    } catch (err) {
      await endQuietly(client);
      throw err;
    }
    if (this.stopped) {
      // The node stopped while this one connected.
      await endQuietly(client);
      return;
    }
    this.listener = client;
    this.echoOutstanding = null;
  }

  /** The settings of a connection of this node's own. Named, so that an operator finds it in
   *  pg_stat_activity; a connection a NAT dropped without a word is found by TCP keepalive, and
   *  a query stuck on a half-open one, or a connect that hangs, gives up within two heartbeats. */
  private connection(role: "heartbeat" | "listen"): pg.ClientConfig {
    const timeoutMs = Math.max(2_000, this.options.heartbeatMs * 2);
    return {
      connectionString: this.options.databaseUrl,
      keepAlive: true,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: `nslab ${this.options.nodeId} ${role}`,
    };
  }

  /** The LISTEN connection failed, ended, or stopped delivering: let go, and connected again. */
  private listenerLost(client: pg.Client, why: string): void {
    if (this.listener !== client || this.stopped) return;
    this.listener = null;
    void endQuietly(client);
    this.options.log.error({ err: why }, "the cluster's LISTEN connection was lost: messages from the other nodes are missed until it is back");
    this.relisten();
  }

  /** Sends this node an echo, unless one is still on its way; drops the LISTEN connection
   *  when one that PostgreSQL took long ago has not come back. */
  private sendEcho(): void {
    const outstanding = this.echoOutstanding;
    if (outstanding) {
      if (this.listener && Date.now() - outstanding.since > this.goneAfterMs) this.listenerLost(this.listener, "its own messages stopped coming back");
      return;
    }
    const listener = this.listener;
    if (!listener) return;
    const n = ++this.echoesSent;
    listener.query("SELECT pg_notify($1, $2)", [CLUSTER_CHANNEL, JSON.stringify({ kind: "echo", from: this.options.nodeId, n })]).then(
      () => {
        // (It may have come back before this ran.)
        if (this.listener === listener && this.echoesBack < n) this.echoOutstanding = { n, since: Date.now() };
      },
      () => undefined,
    );
  }

  private relisten(): void {
    if (this.stopped || this.relistenTimer) return;
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null;
      this.listen().then(
        () => {
          this.options.log.info("the cluster's LISTEN connection is back");
          this.deliver({ kind: "resync", from: this.options.nodeId });
        },
        () => this.relisten(),
      );
    }, this.options.heartbeatMs);
    this.relistenTimer.unref();
  }

  /** Leaves the cluster: marked gone at once (its sessions have ended by now), not after a timeout. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    await this.beating;
    await Promise.allSettled([...this.rowWrites.values()]);
    await this.sendChain.catch(() => undefined);
    for (const ask of this.asks.values()) {
      clearTimeout(ask.timer);
      ask.resolve({ ok: false, status: 503, message: "This server is shutting down." });
    }
    this.asks.clear();
    const { nodeId } = this.options;
    try {
      await this.beatPool.query("DELETE FROM live_sessions WHERE node_id = $1", [nodeId]);
      await this.beatPool.query(`UPDATE nodes SET gone_at_ms = ${NOW_MS}, live_sessions = 0 WHERE id = $1`, [nodeId]);
      await this.publishNow({ kind: "gone", nodes: [nodeId] });
    } catch (err) {
      this.options.log.error({ err }, "could not leave the cluster cleanly; the others will find this node gone by its heartbeat");
    }
    const listener = this.listener;
    this.listener = null;
    if (listener) await endQuietly(listener);
    await this.beatPool.end().catch(() => undefined);
  }

  // --- Sessions --------------------------------------------------------------------------------

  sessionStarted(row: LiveSessionRow): void {
    this.live.set(row.sessionId, row);
    this.writeRow(row.sessionId, () => this.insertRow(row));
  }

  sessionEnded(sessionId: string): void {
    if (!this.live.delete(sessionId)) return;
    this.writeRow(sessionId, async () => {
      await this.options.pool.query("DELETE FROM live_sessions WHERE session_id = $1", [sessionId]);
    });
  }

  private insertRow(row: LiveSessionRow): Promise<unknown> {
    return this.options.pool.query(
      `INSERT INTO live_sessions (session_id, node_id, learner_id, lesson, class_id, member_id, started_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING`,
      [row.sessionId, this.options.nodeId, row.learnerId, row.lesson, row.classId, row.memberId, row.startedAtMs],
    );
  }

  private writeRow(sessionId: string, write: () => Promise<unknown>): void {
    const before = this.rowWrites.get(sessionId) ?? Promise.resolve();
    const next = before
      .then(write)
      .then(
        () => undefined,
        (err: unknown) => this.options.log.error({ sessionId, err }, "the cluster's record of a session could not be written"),
      );
    this.rowWrites.set(sessionId, next);
    void next.finally(() => {
      if (this.rowWrites.get(sessionId) === next) this.rowWrites.delete(sessionId);
    });
  }

  // --- Where things are ----------------------------------------------------------------------

  /** A node still beating: its heartbeat within the timeout, by the database's clock. */
  private alive(param: string): string {
    return `n.gone_at_ms IS NULL AND n.heartbeat_at_ms >= ${NOW_MS} - ${param}`;
  }

  private async one(sql: string, params: unknown[]): Promise<NodeRef | null> {
    const { rows } = await this.options.pool.query<{ id: string; address: string }>(sql, params);
    const row = rows[0];
    return row ? { id: row.id, address: row.address } : null;
  }

  /** The live node running the session, if any. */
  ownerOfSession(sessionId: string): Promise<NodeRef | null> {
    return this.one(
      `SELECT n.id, n.address FROM live_sessions s JOIN nodes n ON n.id = s.node_id
       WHERE s.session_id = $1 AND ${this.alive("$2")}`,
      [sessionId, this.goneAfterMs],
    );
  }

  /** The live node running the class member's newest sandbox, if any. */
  ownerOfMember(classId: string, memberId: string): Promise<NodeRef | null> {
    return this.one(
      `SELECT n.id, n.address FROM live_sessions s JOIN nodes n ON n.id = s.node_id
       WHERE s.class_id = $1 AND s.member_id = $2 AND ${this.alive("$3")}
       ORDER BY s.started_at_ms DESC LIMIT 1`,
      [classId, memberId, this.goneAfterMs],
    );
  }

  /** Another live node already running a sandbox of this learner for this lesson: their new
   *  start goes there, so that one node keeps the one-sandbox-per-member rule and the
   *  learner's waiting sandboxes in one place. */
  otherNodeOfLearner(learnerId: string, lesson: string): Promise<NodeRef | null> {
    return this.one(
      `SELECT n.id, n.address FROM live_sessions s JOIN nodes n ON n.id = s.node_id
       WHERE s.learner_id = $1 AND s.lesson = $2 AND n.id <> $3 AND ${this.alive("$4")}
       ORDER BY s.started_at_ms DESC LIMIT 1`,
      [learnerId, lesson, this.options.nodeId, this.goneAfterMs],
    );
  }

  /** The live node (not this one) with the most room, if any has room. */
  nodeWithRoom(): Promise<NodeRef | null> {
    return this.one(
      `SELECT n.id, n.address FROM nodes n
       WHERE n.id <> $1 AND ${this.alive("$2")}
         AND n.capacity > (SELECT count(*) FROM live_sessions s WHERE s.node_id = n.id)
       ORDER BY n.capacity - (SELECT count(*) FROM live_sessions s WHERE s.node_id = n.id) DESC, n.id LIMIT 1`,
      [this.options.nodeId, this.goneAfterMs],
    );
  }

  /** Sandboxes of the class running on other live nodes, other than the member's own. */
  async classLiveElsewhere(classId: string, memberId: string): Promise<number> {
    const { rows } = await this.options.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM live_sessions s JOIN nodes n ON n.id = s.node_id
       WHERE s.class_id = $1 AND s.member_id <> $2 AND n.id <> $3 AND ${this.alive("$4")}`,
      [classId, memberId, this.options.nodeId, this.goneAfterMs],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Every node, for /healthz and the operator. */
  async nodes(): Promise<Array<NodeRef & { capacity: number; liveSessions: number; heartbeatAtMs: number; gone: boolean }>> {
    const { rows } = await this.options.pool.query<{ id: string; address: string; capacity: number; live: string; heartbeat_at_ms: string; gone_at_ms: string | null }>(
      `SELECT n.id, n.address, n.capacity, n.heartbeat_at_ms, n.gone_at_ms,
              (SELECT count(*) FROM live_sessions s WHERE s.node_id = n.id) AS live
       FROM nodes n ORDER BY n.id`,
    );
    return rows.map((r) => ({
      id: r.id,
      address: r.address,
      capacity: r.capacity,
      liveSessions: Number(r.live),
      heartbeatAtMs: Number(r.heartbeat_at_ms),
      gone: r.gone_at_ms !== null,
    }));
  }

  // --- Heartbeat and sweep -------------------------------------------------------------------

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const { nodeId, log } = this.options;
    try {
      const { rows } = await this.beatPool.query<{ gone_at_ms: string | null }>(
        `UPDATE nodes SET heartbeat_at_ms = ${NOW_MS}, live_sessions = $2 WHERE id = $1 RETURNING gone_at_ms`,
        [nodeId, this.options.occupied()],
      );
      if (rows[0]?.gone_at_ms !== null) {
        // Declared gone while still running: back in, with the sessions it still has (below).
        log.error({ nodeId }, "this node was marked gone by the others (its heartbeat stopped for a while); registering again");
        await this.register(this.options.occupied());
      }
      await this.reconcileRows();
      // One statement, so that a node that comes back between a sweep's two halves does not
      // lose the rows it has just written again.
      const swept = await this.beatPool.query<{ id: string }>(
        `WITH gone AS (
           UPDATE nodes SET gone_at_ms = ${NOW_MS}
           WHERE gone_at_ms IS NULL AND heartbeat_at_ms < ${NOW_MS} - $1 AND id <> $2 RETURNING id
         ), ended AS (
           DELETE FROM live_sessions s USING gone WHERE s.node_id = gone.id RETURNING s.session_id
         )
         SELECT id, (SELECT count(*) FROM ended) AS sessions FROM gone`,
        [this.goneAfterMs, nodeId],
      );
      await this.beatPool.query(`DELETE FROM nodes n WHERE n.gone_at_ms < ${NOW_MS} - $1 AND NOT EXISTS (SELECT 1 FROM live_sessions s WHERE s.node_id = n.id)`, [FORGET_GONE_NODES_MS]);
      this.sendEcho();
      const gone = swept.rows.map((r) => r.id);
      if (gone.length === 0) return;
      log.warn({ nodes: gone, sessions: Number((swept.rows[0] as { sessions?: string } | undefined)?.sessions ?? 0) }, "nodes stopped beating: marked gone, their sessions ended");
      const message: OutgoingMessage = { kind: "gone", nodes: gone };
      this.publish(message);
      this.deliver({ ...message, from: nodeId });
    } catch (err) {
      log.error({ err }, "the cluster heartbeat failed (is PostgreSQL reachable?)");
    }
  }

  /** This node's rows of live_sessions made to match the sessions it runs: a record write
   *  lost to a database blip (or deleted by a sweep while this node was thought gone) is
   *  written again, and a row of a session that ended is deleted. */
  private async reconcileRows(): Promise<void> {
    const rows = [...this.live.values()];
    if (rows.length > 0) {
      await this.beatPool.query(
        `INSERT INTO live_sessions (session_id, node_id, learner_id, lesson, class_id, member_id, started_at_ms)
         SELECT u.session_id, $1, u.learner_id, u.lesson, u.class_id, u.member_id, u.started_at_ms
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           AS u(session_id, learner_id, lesson, class_id, member_id, started_at_ms)
         ON CONFLICT (session_id) DO NOTHING`,
        [
          this.options.nodeId,
          rows.map((r) => r.sessionId),
          rows.map((r) => r.learnerId),
          rows.map((r) => r.lesson),
          rows.map((r) => r.classId),
          rows.map((r) => r.memberId),
          rows.map((r) => r.startedAtMs),
        ],
      );
    }
    // The sessions live now, not at the insert: one that started meanwhile keeps its row.
    await this.beatPool.query("DELETE FROM live_sessions WHERE node_id = $1 AND NOT (session_id = ANY($2::text[]))", [this.options.nodeId, [...this.live.keys()]]);
  }

  // --- The bus -------------------------------------------------------------------------------

  /** Sends to every other node, in the order sent. When too many wait, a card or a watch is
   *  dropped (and logged): each is sent again soon. A class change, a request or its answer is
   *  not, up to twice the bound, past which the database is not keeping up at all. */
  publish(message: OutgoingMessage): void {
    if (this.stopped) return;
    const droppable = message.kind === "card" || message.kind === "watch";
    if (this.pending >= (droppable ? BUS_MAX_PENDING : 2 * BUS_MAX_PENDING)) {
      this.options.log.warn({ kind: message.kind, pending: this.pending }, "cluster bus is backed up; a message was dropped");
      return;
    }
    void this.publishNow(message).catch((err: unknown) => this.options.log.error({ kind: message.kind, err }, "a cluster message could not be sent"));
  }

  private publishNow(message: OutgoingMessage): Promise<void> {
    const payload = JSON.stringify({ ...message, from: this.options.nodeId });
    if (Buffer.byteLength(payload) > NOTIFY_MAX_BYTES) {
      return Promise.reject(new Error(`a ${message.kind} message of ${Buffer.byteLength(payload)} bytes does not fit in a NOTIFY`));
    }
    this.pending++;
    // One connection, one query after another: the others receive them in this order (while
    // the LISTEN connection is down, through the pool, in no promised order).
    const sent = this.sendChain.then(() => (this.listener ?? this.options.pool).query("SELECT pg_notify($1, $2)", [CLUSTER_CHANNEL, payload]));
    this.sendChain = sent.catch(() => undefined);
    return sent.then(() => undefined).finally(() => this.pending--);
  }

  /** Asks the node `to` to act on a member's sandbox it runs; its answer, or a 503 after
   *  ASK_TIMEOUT_MS. */
  ask(to: string, classId: string, memberId: string, request: MemberRequest): Promise<MemberAnswer> {
    if (this.asks.size >= MAX_OPEN_ASKS) return Promise.resolve({ ok: false, status: 503, message: "Too many requests to the other servers are waiting; try again in a moment." });
    const id = randomBytes(8).toString("hex");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.asks.delete(id);
        resolve({ ok: false, status: 503, message: "The server running this learner's sandbox did not answer; try again in a moment." });
      }, ASK_TIMEOUT_MS);
      timer.unref();
      this.asks.set(id, { resolve, timer });
      this.publish({ kind: "ask", to, id, classId, memberId, request });
    });
  }

  answer(to: string, id: string, answer: MemberAnswer): void {
    this.publish({ kind: "answer", to, id, answer });
  }

  private received(payload: string): void {
    let message: BusMessage;
    try {
      message = JSON.parse(payload) as BusMessage;
    } catch {
      this.options.log.warn({ bytes: payload.length }, "a cluster message that is not JSON was ignored");
      return;
    }
    if (typeof message !== "object" || message === null) return;
    if (message.from === this.options.nodeId) {
      if (message.kind === "echo") {
        this.echoesBack = Math.max(this.echoesBack, message.n);
        if (this.echoOutstanding && this.echoesBack >= this.echoOutstanding.n) this.echoOutstanding = null;
      }
      return;
    }
    if (message.kind === "echo" || message.kind === "resync") return;
    if ((message.kind === "ask" || message.kind === "answer") && message.to !== this.options.nodeId) return;
    if (message.kind === "answer") {
      const ask = this.asks.get(message.id);
      if (!ask) return;
      this.asks.delete(message.id);
      clearTimeout(ask.timer);
      ask.resolve(message.answer);
      return;
    }
    this.deliver(message);
  }

  private deliver(message: BusMessage): void {
    try {
      this.handler(message);
    } catch (err) {
      this.options.log.error({ kind: message.kind, err }, "a cluster message could not be handled");
    }
  }
}

/** Ends a client without its "end" being taken for a lost connection, whatever state it is in. */
async function endQuietly(client: pg.Client): Promise<void> {
  client.removeAllListeners("end");
  await client.end().catch(() => undefined);
}
