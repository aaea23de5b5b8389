// One nslab node: the sandbox host, the store, the sessions, the classroom and the HTTP and
// WebSocket server, put together from the settings. server/main.ts runs one with Next's pages;
// the cluster's tests run several, without them. With NSLAB_DATABASE_URL the node keeps its
// state in PostgreSQL and joins the cluster of nodes sharing it (server/cluster/).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { ClassBus } from "./cluster/class-bus";
import { ClusterNode, type NodeRef } from "./cluster/cluster-node";
import { Classrooms } from "./classroom/classrooms";
import { InstructorSessions, type InstructorSecret, loadInstructorSecret } from "./classroom/instructor-auth";
import { type Config, splitList } from "./config";
import { TrustedProxies } from "./http/client-address";
import { createLabServer, type LabCluster, type RequestHandler } from "./http/lab-server";
import { checkHostFeatures, unsupportedReason } from "./kernel/features";
import { LessonCatalog } from "./lessons/lesson-steps";
import { log } from "./log";
import { hostCgroupDriver } from "./sandbox/cgroup";
import { SandboxHost, serverHostOptions } from "./sandbox/host";
import { LAYER_INODES, layerDiskSpace } from "./sandbox/layer-disk";
import { SessionRegistry } from "./sessions/session-registry";
import { countStoreErrors } from "./store/counted-store";
import { openPgStore } from "./store/pg-store";
import { openSqliteStore } from "./store/sqlite-store";
import type { Store } from "./store/store";

export interface LabNode {
  port: number;
  /** The node's instructor secret, and whether it was just made (shown once). */
  secret: InstructorSecret;
  host: SandboxHost | null;
  /** Ends every session, leaves the cluster, removes what the node prepared, closes the store. */
  stop(): Promise<void>;
}

export async function startLabNode(config: Config, web: { handleRequest: RequestHandler; dev: boolean }): Promise<LabNode> {
  // The data directory holds the database, the instructor's secret and the learners' layer
  // images: root's alone, whatever made it before.
  fs.mkdirSync(config.NSLAB_DATA_DIR, { recursive: true, mode: 0o700 });
  fs.chmodSync(config.NSLAB_DATA_DIR, 0o700);
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS, cgroupParent: config.NSLAB_CGROUP_PARENT });
  let host: SandboxHost | null = null;
  let reason = "";
  if (features.ok) {
    const found = hostCgroupDriver(config.NSLAB_CGROUP_PARENT);
    if ("driver" in found) {
      host = new SandboxHost(found.driver, serverHostOptions(config));
      if (host.layers.mode === "disk") {
        log.info({ dir: host.layers.dir }, "writable layers on disk: an ext4 image per session");
        const space = layerDiskSpace(config.NSLAB_DATA_DIR, config.NSLAB_MAX_SESSIONS, config.NSLAB_LAYER_BYTES, LAYER_INODES);
        if (space.freeBytes < space.neededBytes) {
          log.warn(
            { freeBytes: space.freeBytes, neededBytes: space.neededBytes, maxSessions: config.NSLAB_MAX_SESSIONS, layerBytes: config.NSLAB_LAYER_BYTES },
            "the data directory's disk cannot hold every sandbox's layer full: learners filling theirs would fill it, and the database with it (free space, or lower NSLAB_MAX_SESSIONS or NSLAB_LAYER_BYTES)",
          );
        }
      }
      else log.warn({ reason: host.layers.reason }, "writable layers in memory (tmpfs), sized below each sandbox's memory limit: a full disk is ENOSPC at a smaller size");
      await host.cleanupLeftovers();
    } else {
      reason = `This server cannot create sandboxes: ${found.reason}.`;
    }
  } else {
    reason = unsupportedReason(features);
  }
  if (!host) log.error({ reason, checks: features.checks.filter((c) => !c.ok) }, "lab disabled: lessons are served without sandboxes");

  const lessons = new LessonCatalog(path.join(config.projectRoot, "lessons"), "lessons", web.dev);
  // Every lesson's lab steps are read before the first page can ask for a sandbox: a broken
  // lesson stops the server here, and no session waits for an MDX file to be evaluated.
  await lessons.load();

  let store: Store;
  let cluster: { node: ClusterNode; bus: ClassBus; lab: LabCluster } | null = null;
  let registry: SessionRegistry | null = null;
  const databaseUrl = config.NSLAB_DATABASE_URL;
  if (databaseUrl) {
    const pgStore = await openPgStore(databaseUrl);
    store = countStoreErrors(pgStore);
    const nodeId = config.NSLAB_NODE_ID ?? `${os.hostname()}:${config.PORT}`;
    const node = new ClusterNode({
      pool: pgStore.pool,
      databaseUrl,
      nodeId,
      // Checked by loadConfig: a database URL comes with the node's address and secret.
      address: config.NSLAB_NODE_ADDRESS ?? "",
      capacity: host ? config.NSLAB_MAX_SESSIONS : 0,
      heartbeatMs: config.NSLAB_NODE_HEARTBEAT_MS,
      occupied: () => registry?.occupied ?? 0,
      log: log.child({ part: "cluster" }),
    });
    const bus = new ClassBus(node, log.child({ part: "cluster" }));
    cluster = {
      node,
      bus,
      lab: {
        nodeId,
        secret: config.NSLAB_NODE_SECRET ?? "",
        route: (message, page) => routeFor(node, registry, message, page),
        // Not the nodes' addresses: /healthz goes out through the ingress, the operator's too.
        health: async () => (await node.nodes()).map(({ address: _address, ...rest }) => rest),
      },
    };
  } else {
    store = countStoreErrors(openSqliteStore(path.join(config.NSLAB_DATA_DIR, "nslab.db")));
  }

  const clusterNode = cluster?.node ?? null;
  registry = host
    ? new SessionRegistry({
        host,
        capacity: config.NSLAB_MAX_SESSIONS,
        graceMs: config.NSLAB_RECONNECT_GRACE_S * 1000,
        defaultLimits: config.defaultLimits,
        limits: {
          perLearner: config.NSLAB_SESSIONS_PER_LEARNER,
          perAddress: config.NSLAB_SESSIONS_PER_ADDRESS,
          expiry: { idleMs: config.NSLAB_IDLE_TIMEOUT_S * 1000, lifetimeMs: config.NSLAB_SESSION_LIFETIME_S * 1000 },
        },
        store,
        lessons,
        observer: clusterNode
          ? {
              started: (session) =>
                clusterNode.sessionStarted({
                  sessionId: session.id,
                  learnerId: session.learnerId,
                  lesson: session.lesson,
                  classId: session.classroom?.classId ?? null,
                  memberId: session.classroom?.memberId ?? null,
                  startedAtMs: session.startedAtMs,
                }),
              ended: (session) => clusterNode.sessionEnded(session.id),
            }
          : null,
      })
    : null;
  const classrooms = new Classrooms({ store, registry, lessons, cluster: cluster?.bus ?? null, defaultLimits: config.defaultLimits });
  cluster?.bus.attach(classrooms);
  await cluster?.node.start();
  const secret = await loadInstructorSecret({ fromEnvironment: config.NSLAB_INSTRUCTOR_SECRET, dataDir: config.NSLAB_DATA_DIR });
  const lab = createLabServer({
    registry,
    lessons,
    store,
    unsupportedReason: reason,
    features,
    handleRequest: web.handleRequest,
    allowedOrigins: config.NSLAB_ALLOWED_ORIGINS.split(",").map((s) => s.trim()).filter(Boolean),
    publicOrigins: config.publicOrigins,
    dev: web.dev,
    classroom: { classrooms, secret, sessions: new InstructorSessions(store.instructorSessions) },
    cluster: cluster?.lab ?? null,
    trustedProxies: new TrustedProxies(splitList(config.NSLAB_TRUSTED_PROXIES)),
    operatorToken: config.NSLAB_OPERATOR_TOKEN ?? null,
  });
  const port = await lab.listen(config.PORT, config.HOST);
  log.info(
    {
      dev: web.dev,
      cgroupVersion: features.cgroupVersion,
      lab: host !== null,
      capacity: config.NSLAB_MAX_SESSIONS,
      reconnectGraceS: config.NSLAB_RECONNECT_GRACE_S,
      store: config.NSLAB_DATABASE_URL ? "postgresql" : "sqlite",
      node: cluster?.lab.nodeId ?? null,
    },
    "nslab node started",
  );

  let stopped: Promise<void> | null = null;
  const stop = async () => {
    // Ends every session (pages are told, sandboxes destroyed), then closes the sockets.
    await lab.close();
    cluster?.bus.close();
    // Its sessions have ended: the others see it leave now, not at its heartbeat's timeout.
    await cluster?.node.stop();
    // Every sandbox is gone: the sandboxes prepared ahead are removed, and the terminal spawner
    // has nothing left to start or reap (bounded: it exits with this process anyway).
    await Promise.race([host?.close(), new Promise((r) => setTimeout(r, 5_000))]);
    // After the sockets: the steps their last checks ticked are still in the write queue.
    await store.close().catch((err: unknown) => log.error({ err }, "store did not close cleanly"));
  };
  return {
    port,
    secret,
    host,
    stop: () => (stopped ??= stop()),
  };
}

/** Which node serves a page's first message: the one running the session it names, or the
 *  class member it observes; for a start, the node already running the learner's sandbox of
 *  that lesson, else this one, else (when this one is full) the one with the most room. */
async function routeFor(
  node: ClusterNode,
  registry: SessionRegistry | null,
  message: Parameters<LabCluster["route"]>[0],
  page: { learnerId: string; hasCookie: boolean },
): Promise<NodeRef | null> {
  switch (message.type) {
    case "session.resume":
    case "session.watch":
      if (registry?.find(message.sessionId)) return null;
      return node.ownerOfSession(message.sessionId);
    case "session.observe":
      if (registry?.byClass(message.classId).some((s) => s.classroom?.memberId === message.memberId)) return null;
      return node.ownerOfMember(message.classId, message.memberId);
    case "session.start": {
      if (page.hasCookie && message.lesson) {
        const other = await node.otherNodeOfLearner(page.learnerId, message.lesson);
        if (other) return other;
      }
      // Never "lab full" while another node has room; a node without sandboxes (its kernel
      // lacks a feature) sends every start elsewhere.
      if (registry && registry.occupied < registry.capacity) return null;
      return node.nodeWithRoom();
    }
    default:
      return null;
  }
}
