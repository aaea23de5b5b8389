// The Kubernetes manifests in deploy/kubernetes/, checked without a cluster: every file parses
// the same way under YAML 1.1 (what kubectl's parser speaks) and 1.2, each object has the
// fields the API server requires, the objects agree with each other (selectors and labels,
// ports, the Secrets the pods read), the pod's environment passes the server's own config
// checks, and each privilege the pod asks for has a comment saying why. Where kubectl is on
// PATH, `kubectl kustomize` also builds the kustomization (offline: a client-side dry run
// needs a reachable API server even with --validate=false).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";

import { describe, expect, it } from "vitest";
import { type Document, isMap, isScalar, isSeq, parseAllDocuments } from "yaml";
import { z } from "zod";

import { loadConfig } from "../config";
import { LAYER_INODES, imageBytes } from "../sandbox/layer-disk";
import { projectRoot } from "../project-root";

const MANIFEST_DIR = path.join(projectRoot, "deploy", "kubernetes");
const KUSTOMIZATION = "kustomization.yaml";
/** Shown, never applied: kustomization.yaml must not list it. */
const SECRETS_EXAMPLE = "secrets.example.yaml";
const NAMESPACE = "nslab";
const PLACEHOLDER = "CHANGE-ME";

// ---------------------------------------------------------------------------------------------
// The shapes checked: the fields the API server requires of each kind, and those these tests
// compare across objects. Unknown fields pass (the API server is the judge of those).

const Labels = z.record(z.string(), z.string());
const Metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  labels: Labels.optional(),
  annotations: Labels.optional(),
});
const ObjectBase = z.object({ apiVersion: z.string().min(1), kind: z.string().min(1), metadata: Metadata });
/** A port by number or by the container port's name. */
const PortRef = z.union([z.number().int().positive(), z.string().min(1)]);
/** A count or a percentage, as maxUnavailable and maxSurge take. */
const IntOrPercent = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+%$/)]);
const Quantity = z.union([z.string().min(1), z.number()]);

const EnvVar = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
    // Always a string: `value: 50` is refused by the API server.
    value: z.string().optional(),
    valueFrom: z
      .object({
        fieldRef: z.object({ fieldPath: z.string() }).optional(),
        secretKeyRef: z.object({ name: z.string(), key: z.string() }).optional(),
      })
      .optional(),
  })
  .refine((v) => (v.value === undefined) !== (v.valueFrom === undefined), "an env var has either value or valueFrom");
type EnvVar = z.infer<typeof EnvVar>;

const Probe = z.object({
  httpGet: z.object({ path: z.string(), port: PortRef }),
  periodSeconds: z.number().int().positive().optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  failureThreshold: z.number().int().positive().optional(),
});

const Container = z.object({
  name: z.string().min(1),
  image: z.string().min(1),
  ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number().int().positive(), protocol: z.string().optional() })).min(1),
  env: z.array(EnvVar),
  securityContext: z.object({
    privileged: z.boolean().optional(),
    runAsUser: z.number().int().optional(),
    seccompProfile: z.object({ type: z.string() }).optional(),
  }),
  resources: z.object({ requests: z.record(z.string(), Quantity), limits: z.record(z.string(), Quantity) }),
  startupProbe: Probe,
  readinessProbe: Probe,
  livenessProbe: Probe,
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() })),
});
type Container = z.infer<typeof Container>;

const Volume = z.object({
  name: z.string().min(1),
  hostPath: z.object({ path: z.string(), type: z.string().optional() }).optional(),
  emptyDir: z.object({ medium: z.string().optional(), sizeLimit: z.string().optional() }).optional(),
});

const DaemonSet = ObjectBase.extend({
  apiVersion: z.literal("apps/v1"),
  kind: z.literal("DaemonSet"),
  spec: z.object({
    selector: z.object({ matchLabels: Labels }),
    updateStrategy: z.object({
      type: z.literal("RollingUpdate"),
      rollingUpdate: z.object({ maxUnavailable: IntOrPercent, maxSurge: IntOrPercent }),
    }),
    template: z.object({
      metadata: z.object({ labels: Labels }),
      spec: z.object({
        nodeSelector: Labels,
        hostNetwork: z.boolean().optional(),
        hostPID: z.boolean().optional(),
        terminationGracePeriodSeconds: z.number().int().positive(),
        containers: z.array(Container).length(1),
        volumes: z.array(Volume),
      }),
    }),
  }),
});

const Service = ObjectBase.extend({
  apiVersion: z.literal("v1"),
  kind: z.literal("Service"),
  spec: z.object({
    type: z.literal("ClusterIP"),
    selector: Labels,
    ports: z.array(z.object({ name: z.string().optional(), port: z.number().int().positive(), targetPort: PortRef })).min(1),
  }),
});

const IngressBackend = z.object({
  service: z.object({ name: z.string(), port: z.union([z.object({ number: z.number().int() }), z.object({ name: z.string() })]) }),
});
const Ingress = ObjectBase.extend({
  apiVersion: z.literal("networking.k8s.io/v1"),
  kind: z.literal("Ingress"),
  spec: z.object({
    ingressClassName: z.string().optional(),
    tls: z.array(z.object({ hosts: z.array(z.string()), secretName: z.string() })).min(1),
    rules: z
      .array(
        z.object({
          host: z.string(),
          http: z.object({ paths: z.array(z.object({ path: z.string(), pathType: z.enum(["Prefix", "Exact", "ImplementationSpecific"]), backend: IngressBackend })).min(1) }),
        }),
      )
      .min(1),
  }),
});

const PodDisruptionBudget = ObjectBase.extend({
  apiVersion: z.literal("policy/v1"),
  kind: z.literal("PodDisruptionBudget"),
  spec: z.object({ maxUnavailable: IntOrPercent, selector: z.object({ matchLabels: Labels }) }),
});

const Secret = ObjectBase.extend({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  type: z.string().optional(),
  stringData: z.record(z.string(), z.string()),
});

const Namespace = ObjectBase.extend({ apiVersion: z.literal("v1"), kind: z.literal("Namespace") });

const Kustomization = z.object({
  apiVersion: z.literal("kustomize.config.k8s.io/v1beta1"),
  kind: z.literal("Kustomization"),
  resources: z.array(z.string()).min(1),
  images: z.array(z.object({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() })).optional(),
});

/** Cluster-scoped kinds: everything else must name the namespace. */
const CLUSTER_SCOPED = new Set(["Namespace"]);

// ---------------------------------------------------------------------------------------------
// Reading the files.

interface ManifestDoc {
  readonly doc: Document.Parsed;
  readonly value: unknown;
}

interface ManifestFile {
  readonly file: string;
  readonly source: string;
  readonly docs: readonly ManifestDoc[];
}

/** Every YAML document of `source`, refusing parse errors and warnings, and any scalar that
 *  YAML 1.1 and 1.2 read differently (`yes`, `on`, `0o17`, …): kubectl's parser speaks 1.1,
 *  kustomize's 1.2, and the two must agree on what this file says. */
function parseManifests(file: string, source: string): ManifestDoc[] {
  const asKubectl = parseAllDocuments(source, { version: "1.1", prettyErrors: true });
  const asYaml12 = parseAllDocuments(source, { version: "1.2", prettyErrors: true });
  const problems = [...asKubectl, ...asYaml12].flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join("; ")}`);
  const docs = asKubectl.filter((d) => d.contents !== null).map((doc) => ({ doc, value: doc.toJS() as unknown }));
  const docs12 = asYaml12.filter((d) => d.contents !== null).map((d) => d.toJS() as unknown);
  if (!isDeepStrictEqual(docs12, docs.map((d) => d.value))) {
    throw new Error(`${file} reads differently under YAML 1.1 (kubectl) and 1.2 (kustomize): quote values such as yes, no, on, off, y, n and numbers with leading zeros`);
  }
  return docs;
}

function readManifests(): ManifestFile[] {
  return fs
    .readdirSync(MANIFEST_DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((file) => {
      const source = fs.readFileSync(path.join(MANIFEST_DIR, file), "utf8");
      return { file, source, docs: parseManifests(file, source) };
    });
}

const manifests = readManifests();

function onlyFile(name: string): ManifestFile {
  const found = manifests.find((m) => m.file === name);
  if (!found) throw new Error(`deploy/kubernetes/${name} is missing`);
  return found;
}

/** The one object of `kind` among the applied files, parsed with `schema`. */
function theObject<T>(kind: string, schema: z.ZodType<T>): { value: T; file: ManifestFile; doc: Document.Parsed } {
  const found = manifests.filter((m) => m.file !== SECRETS_EXAMPLE).flatMap((m) => m.docs.map((d) => ({ file: m, ...d }))).filter((d) => ObjectBase.safeParse(d.value).data?.kind === kind);
  const [only, ...more] = found;
  if (!only || more.length > 0) throw new Error(`deploy/kubernetes should hold exactly one ${kind}; it has ${found.length}`);
  const parsed = schema.safeParse(only.value);
  if (!parsed.success) throw new Error(`${only.file.file}: the ${kind} is not as expected:\n${z.prettifyError(parsed.error)}`);
  return { value: parsed.data, file: only.file, doc: only.doc };
}

/** The offset in the file where the node at `keys` starts: a mapping key's own position for a
 *  string, a sequence item's for a number. */
function offsetOf(doc: Document.Parsed, keys: readonly (string | number)[]): number {
  let node: unknown = doc.contents;
  let offset = -1;
  for (const key of keys) {
    if (typeof key === "number" && isSeq(node)) {
      node = node.items[key];
      offset = isMap(node) || isSeq(node) || isScalar(node) ? (node.range?.[0] ?? -1) : -1;
    } else if (typeof key === "string" && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (!pair || !isScalar(pair.key)) throw new Error(`no ${keys.join(".")} in the document`);
      offset = pair.key.range?.[0] ?? -1;
      node = pair.value;
    } else {
      throw new Error(`no ${keys.join(".")} in the document`);
    }
  }
  if (offset < 0) throw new Error(`no position for ${keys.join(".")}`);
  return offset;
}

/** Whether the line at `offset` carries a comment, or the line just above it is one. */
function hasCommentAt(source: string, offset: number): boolean {
  const lineStart = source.lastIndexOf("\n", offset - 1) + 1;
  const lineEnd = source.indexOf("\n", offset);
  const line = source.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
  if (/\s#\s/.test(line)) return true;
  const above = source.slice(0, Math.max(0, lineStart - 1)).split("\n").pop() ?? "";
  return above.trim().startsWith("#");
}

function portNumber(container: Container, port: string | number): number | undefined {
  if (typeof port === "number") return container.ports.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports.find((p) => p.name === port)?.containerPort;
}

function envNamed(container: Container, name: string): EnvVar {
  const found = container.env.find((e) => e.name === name);
  if (!found) throw new Error(`the container has no ${name}`);
  return found;
}

/** The container's environment as the kubelet makes it: fieldRefs and secretKeyRefs from the
 *  given stand-ins, `$(NAME)` expanded from the variables defined before it (as Kubernetes does). */
function resolveEnv(container: Container, fields: Record<string, string>, secrets: Record<string, Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env) {
    if (v.value !== undefined) {
      env[v.name] = v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env[name] ?? ref);
    } else if (v.valueFrom?.fieldRef) {
      const field = fields[v.valueFrom.fieldRef.fieldPath];
      if (field === undefined) throw new Error(`no stand-in for ${v.valueFrom.fieldRef.fieldPath}`);
      env[v.name] = field;
    } else if (v.valueFrom?.secretKeyRef) {
      const { name, key } = v.valueFrom.secretKeyRef;
      const value = secrets[name]?.[key];
      if (value === undefined) throw new Error(`no Secret ${name} with key ${key}`);
      env[v.name] = value;
    }
  }
  return env;
}

/** Bytes of a memory quantity such as 512Mi or 1Gi. */
function memoryBytes(quantity: string | number): number {
  if (typeof quantity === "number") return quantity;
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(quantity);
  if (!m) throw new Error(`memory quantity ${quantity} is not in Ki/Mi/Gi/Ti`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] as "Ki" | "Mi" | "Gi" | "Ti"] ?? 1;
  return Number(m[1]) * unit;
}

function isWithin(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

// ---------------------------------------------------------------------------------------------

const daemonSet = theObject("DaemonSet", DaemonSet);
const podSpec = daemonSet.value.spec.template.spec;
const podLabels = daemonSet.value.spec.template.metadata.labels;
const containerIndex = 0;
const container = podSpec.containers[containerIndex] as Container;
const httpPort = container.ports[0]?.containerPort ?? 0;
const exampleSecrets = onlyFile(SECRETS_EXAMPLE).docs.map((d) => Secret.parse(d.value));

/** The example Secrets' values as `{ name: { key: value } }`. */
const placeholderSecrets: Record<string, Record<string, string>> = Object.fromEntries(exampleSecrets.map((s) => [s.metadata.name, s.stringData]));
/** Values that pass the server's checks, for the same names and keys. */
const realisticSecrets: Record<string, Record<string, string>> = {
  "nslab-postgres": { url: "postgres://nslab:s3cret-password@postgres.nslab.svc:5432/nslab" },
  "nslab-node": { secret: "Qm9vdHN0cmFwcGVkLW5vZGUtc2VjcmV0IQ==" },
  "nslab-instructor": { secret: "a-long-instructor-secret" },
};
const podFields = { "metadata.name": "nslab-x7k2p", "status.podIP": "10.0.3.7" };

describe("deploy/kubernetes manifests", () => {
  it("has every object's apiVersion, kind and name, and puts every namespaced one in the nslab namespace", () => {
    const objects = manifests.filter((m) => m.file !== KUSTOMIZATION).flatMap((m) => m.docs.map((d) => ({ file: m.file, value: d.value })));
    expect(objects.length).toBeGreaterThanOrEqual(8);
    for (const { file, value } of objects) {
      const parsed = ObjectBase.safeParse(value);
      expect(parsed.error?.message, `${file}: apiVersion, kind, metadata.name`).toBeUndefined();
      if (!parsed.data) continue;
      const { kind, metadata } = parsed.data;
      if (CLUSTER_SCOPED.has(kind)) {
        expect(metadata.namespace, `${file}: ${kind} is cluster-scoped`).toBeUndefined();
      } else {
        expect(metadata.namespace, `${file}: ${kind}/${metadata.name}'s namespace`).toBe(NAMESPACE);
      }
    }
    expect(theObject("Namespace", Namespace).value.metadata).toMatchObject({
      name: NAMESPACE,
      labels: { "pod-security.kubernetes.io/enforce": "privileged" },
    });
  });

  it("lists in kustomization.yaml exactly the manifests beside it, without the example Secrets", () => {
    const kustomization = Kustomization.parse(onlyFile(KUSTOMIZATION).docs[0]?.value);
    const present = manifests.map((m) => m.file).filter((f) => f !== KUSTOMIZATION && f !== SECRETS_EXAMPLE);
    expect([...kustomization.resources].sort()).toEqual(present);
    expect(kustomization.resources).not.toContain(SECRETS_EXAMPLE);
    expect(kustomization.images?.map((i) => i.name)).toEqual([container.image.replace(/:[^:/]+$/, "")]);
    // The directory holds the manifests and the README, nothing the kustomization would miss.
    const others = fs.readdirSync(MANIFEST_DIR).filter((f) => !/\.ya?ml$/.test(f));
    expect(others).toEqual(["README.md"]);
  });

  it("runs one privileged node per labelled Kubernetes node, never two at once, with a comment on every privilege", () => {
    const { spec } = daemonSet.value;
    expect(matches(spec.selector.matchLabels, podLabels), "the selector matches the pod template's labels").toBe(true);
    expect(podSpec.nodeSelector).toEqual({ "nslab.dev/lab": "true" });
    expect(podSpec.hostNetwork).toBe(false);
    expect(podSpec.hostPID).toBe(false);
    expect(spec.updateStrategy.rollingUpdate).toEqual({ maxUnavailable: 1, maxSurge: 0 });
    expect(container.image).toMatch(/^ghcr\.io\/nslab\/nslab:[\w.-]+$/);
    // The image's port (Dockerfile: PORT=3000, EXPOSE 3000).
    expect(container.ports).toEqual([{ name: "http", containerPort: 3000, protocol: "TCP" }]);

    expect(container.securityContext.privileged).toBe(true);
    const { doc, file } = daemonSet;
    const containerPath = ["spec", "template", "spec", "containers", containerIndex];
    for (const keys of [
      [...containerPath, "securityContext", "privileged"],
      [...containerPath, "securityContext", "seccompProfile"],
      ["spec", "template", "spec", "hostNetwork"],
      ["spec", "template", "spec", "hostPID"],
      ["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
    ]) {
      expect(hasCommentAt(file.source, offsetOf(doc, keys)), `a comment says why ${keys.slice(-2).join(".")}`).toBe(true);
    }
    podSpec.volumes.forEach((volume, i) => {
      expect(hasCommentAt(file.source, offsetOf(doc, ["spec", "template", "spec", "volumes", i])), `a comment says why volume ${volume.name}`).toBe(true);
    });
  });

  it("mounts the host's cgroup tree and /run/nslab read-write at the same paths, and the image and data on the node's disk", () => {
    const mountOf = (volume: string) => container.volumeMounts.find((m) => m.name === volume);
    const hostPaths = podSpec.volumes.filter((v) => v.hostPath).map((v) => ({ path: v.hostPath?.path, mountPath: mountOf(v.name)?.mountPath, readOnly: mountOf(v.name)?.readOnly ?? false }));
    expect(hostPaths).toEqual([
      { path: "/sys/fs/cgroup", mountPath: "/sys/fs/cgroup", readOnly: false },
      { path: "/run/nslab", mountPath: "/run/nslab", readOnly: false },
    ]);
    for (const mount of container.volumeMounts) expect(podSpec.volumes.map((v) => v.name), `volume ${mount.name} exists`).toContain(mount.name);
    for (const volume of podSpec.volumes) expect(mountOf(volume.name), `volume ${volume.name} is mounted`).toBeDefined();

    // The server's own reading of the pod's environment puts its directories on those volumes.
    const config = loadConfig(resolveEnv(container, podFields, realisticSecrets) as NodeJS.ProcessEnv, "/opt/nslab");
    expect(config.NSLAB_RUN_DIR).toBe(mountOf("run")?.mountPath);
    const diskVolumes = podSpec.volumes.filter((v) => v.emptyDir).map((v) => ({ ...v, mountPath: mountOf(v.name)?.mountPath ?? "/nowhere" }));
    for (const dir of [config.NSLAB_ROOTFS, config.NSLAB_DATA_DIR]) {
      const volume = diskVolumes.find((v) => isWithin(v.mountPath, dir));
      expect(volume, `${dir} is on an emptyDir (the image's own copy is on OverlayFS, which cannot be idmapped)`).toBeDefined();
      // tmpfs would count against the pod's memory, and only a disk emptyDir is meant here.
      expect(volume?.emptyDir?.medium, `${dir} is on the node's disk`).toBeUndefined();
    }
    // Every sandbox's layer full, and the image: the kubelet evicts a pod past its sizeLimit.
    const dataVolume = diskVolumes.find((v) => isWithin(v.mountPath, config.NSLAB_DATA_DIR));
    const limit = dataVolume?.emptyDir?.sizeLimit ?? "";
    const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
    const m = /^(\d+)(Ki|Mi|Gi|Ti)$/.exec(limit);
    expect(m, `the data volume's sizeLimit (${limit}) in binary units`).not.toBeNull();
    const needed = config.NSLAB_MAX_SESSIONS * imageBytes(config.NSLAB_LAYER_BYTES, LAYER_INODES) + 2 ** 30;
    expect(Number(m?.[1]) * (units[m?.[2] ?? ""] ?? 0), "room for every sandbox's layer, full, and the image").toBeGreaterThanOrEqual(needed);
  });

  it("gives the server an environment its config accepts: the node's name and address, the shared secrets, /nslab", () => {
    const required = ["POD_IP", "NSLAB_NODE_ID", "NSLAB_NODE_ADDRESS", "PORT", "NSLAB_MAX_SESSIONS", "NSLAB_CGROUP_PARENT", "NSLAB_DATABASE_URL", "NSLAB_NODE_SECRET", "NSLAB_INSTRUCTOR_SECRET"];
    const names = container.env.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(required));
    expect(new Set(names).size, "no variable twice").toBe(names.length);

    expect(envNamed(container, "POD_IP").valueFrom).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    expect(envNamed(container, "NSLAB_NODE_ID").valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(envNamed(container, "NSLAB_NODE_ADDRESS").value).toBe(`http://$(POD_IP):${httpPort}`);
    // Kubernetes expands $(NAME) only from variables listed before it.
    expect(names.indexOf("POD_IP")).toBeLessThan(names.indexOf("NSLAB_NODE_ADDRESS"));
    for (const v of container.env) {
      for (const [, ref] of (v.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        expect(names.slice(0, names.indexOf(v.name)), `${v.name} refers to ${ref ?? ""}, defined before it`).toContain(ref);
      }
    }
    expect(envNamed(container, "NSLAB_DATABASE_URL").valueFrom?.secretKeyRef).toEqual({ name: "nslab-postgres", key: "url" });
    expect(envNamed(container, "NSLAB_NODE_SECRET").valueFrom?.secretKeyRef).toEqual({ name: "nslab-node", key: "secret" });
    expect(envNamed(container, "NSLAB_INSTRUCTOR_SECRET").valueFrom?.secretKeyRef).toEqual({ name: "nslab-instructor", key: "secret" });

    const config = loadConfig(resolveEnv(container, podFields, realisticSecrets) as NodeJS.ProcessEnv, "/opt/nslab");
    expect(config).toMatchObject({
      PORT: httpPort,
      NSLAB_CGROUP_PARENT: "/nslab",
      NSLAB_NODE_ID: "nslab-x7k2p",
      NSLAB_NODE_ADDRESS: `http://10.0.3.7:${httpPort}`,
      NSLAB_DATABASE_URL: realisticSecrets["nslab-postgres"]?.url,
    });
    expect(config.NSLAB_MAX_SESSIONS).toBeGreaterThan(0);
    // Behind the ingress every learner's socket comes from a controller pod: without trusted
    // proxies the per-address bound would count the whole course as one address.
    expect(config.NSLAB_TRUSTED_PROXIES.length, "the ingress controller's pods are trusted proxies").toBeGreaterThan(0);
  });

  it("reads only Secrets the example shows, whose placeholders the server refuses if applied unchanged", () => {
    const refs = container.env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : []));
    expect(refs.length).toBe(3);
    for (const { name, key } of refs) {
      expect(Object.keys(placeholderSecrets[name] ?? {}), `secrets.example.yaml has Secret ${name} with key ${key}`).toContain(key);
      expect(realisticSecrets[name]?.[key], `this test has a stand-in for ${name}/${key}`).toBeDefined();
    }
    for (const secret of exampleSecrets) {
      expect(secret.metadata.namespace).toBe(NAMESPACE);
      for (const [key, value] of Object.entries(secret.stringData)) expect(value, `${secret.metadata.name}/${key} is a placeholder`).toContain(PLACEHOLDER);
    }
    let message = "";
    try {
      loadConfig(resolveEnv(container, podFields, placeholderSecrets) as NodeJS.ProcessEnv, "/opt/nslab");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("NSLAB_NODE_SECRET");
    expect(message).toContain("NSLAB_INSTRUCTOR_SECRET");
  });

  it("probes /healthz on the container's port, allows for the first start, and lets SIGTERM end the sessions", () => {
    // /healthz answers 200 while the lab is disabled too; such a node still serves pages and
    // passes starts on, so readiness asks only that it answer (the comment says why).
    for (const [name, probe] of Object.entries({ readiness: container.readinessProbe, liveness: container.livenessProbe, startup: container.startupProbe })) {
      // Readiness and liveness leave the database out: an outage of it must not take every
      // node out of the Service, nor restart them.
      expect(probe?.httpGet?.path, `${name} probe`).toBe(name === "startup" ? "/healthz" : "/healthz?scope=process");
      expect(portNumber(container, probe?.httpGet?.port ?? -1), `${name} probe's port is the container's`).toBe(httpPort);
    }
    expect(hasCommentAt(daemonSet.file.source, offsetOf(daemonSet.doc, ["spec", "template", "spec", "containers", containerIndex, "readinessProbe"]))).toBe(true);
    // The start-up probe allows for the first start's image build (some 10 s) and more.
    const startup = container.startupProbe;
    expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(120);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  it("sizes the pod for the server alone, with a memory limit at least its request and no CPU limit", () => {
    const { requests, limits } = container.resources;
    expect(requests.cpu).toBeDefined();
    expect(limits.cpu, "a CPU quota would throttle every terminal's echo").toBeUndefined();
    expect(memoryBytes(limits.memory ?? 0)).toBeGreaterThanOrEqual(memoryBytes(requests.memory ?? Infinity));
    // The sandboxes' memory is outside the pod (cgroups under /nslab at the host's root), and
    // the comment says so rather than asking the pod's limit to cover it.
    const resourcesAt = offsetOf(daemonSet.doc, ["spec", "template", "spec", "containers", containerIndex, "resources"]);
    const comment = daemonSet.file.source.slice(resourcesAt, offsetOf(daemonSet.doc, ["spec", "template", "spec", "containers", containerIndex, "resources", "requests"]));
    expect(comment).toMatch(/NOT in this pod's cgroup/);
    expect(comment).toMatch(/NSLAB_MAX_SESSIONS/);
  });

  it("routes the Service to the pods' port and the Ingress to the Service, with long timeouts and optional cookie affinity", () => {
    const service = theObject("Service", Service).value;
    expect(matches(service.spec.selector, podLabels), "the Service selects the lab pods").toBe(true);
    const [servicePort] = service.spec.ports;
    expect(servicePort?.port).toBe(80);
    expect(portNumber(container, servicePort?.targetPort ?? -1), "targetPort is the container's port").toBe(httpPort);

    const ingress = theObject("Ingress", Ingress).value;
    // The server refuses pages of any origin but its public ones, and upgrades naming any other
    // Host: each host the Ingress routes must be one, over https as its TLS serves it.
    const publicOrigins = (envNamed(container, "NSLAB_PUBLIC_ORIGIN").value ?? "").split(",");
    for (const rule of ingress.spec.rules) {
      expect(ingress.spec.tls.flatMap((t) => t.hosts), `TLS covers ${rule.host}`).toContain(rule.host);
      expect(publicOrigins, `NSLAB_PUBLIC_ORIGIN names ${rule.host}`).toContain(`https://${rule.host}`);
      for (const { backend } of rule.http.paths) {
        expect(backend.service.name).toBe(service.metadata.name);
        const port = backend.service.port;
        expect("number" in port ? port.number : service.spec.ports.find((p) => p.name === port.name)?.port).toBe(servicePort?.port);
      }
    }
    const annotations = ingress.metadata.annotations ?? {};
    expect(Number(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(Number(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(annotations).toMatchObject({
      "nginx.ingress.kubernetes.io/affinity": "cookie",
      "nginx.ingress.kubernetes.io/session-cookie-name": expect.stringMatching(/^\w+$/),
    });
  });

  it("lets voluntary evictions take one lab pod at a time", () => {
    const pdb = theObject("PodDisruptionBudget", PodDisruptionBudget).value;
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(daemonSet.value.spec.selector.matchLabels);
  });
});

// ---------------------------------------------------------------------------------------------

const kubectlProbe = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8", timeout: 30_000 });
const kubectlMissing = kubectlProbe.error ? `kubectl is not on PATH (${kubectlProbe.error.message})` : kubectlProbe.status !== 0 ? `kubectl version --client failed: ${kubectlProbe.stderr.trim()}` : null;

// Optional: the schema checks above always run; kubectl only adds kustomize's own reading.
describe.skipIf(kubectlMissing !== null)(`kubectl kustomize deploy/kubernetes${kubectlMissing ? ` (skipped: ${kubectlMissing})` : ""}`, () => {
  it("builds the objects of the listed files, with the image the kustomization names", () => {
    const built = spawnSync("kubectl", ["kustomize", MANIFEST_DIR], { encoding: "utf8", timeout: 60_000 });
    expect(built.stderr).toBe("");
    expect(built.status).toBe(0);
    const objects = parseManifests("kubectl kustomize output", built.stdout).map((d) => ObjectBase.parse(d.value));
    const listed = Kustomization.parse(onlyFile(KUSTOMIZATION).docs[0]?.value).resources.flatMap((f) => onlyFile(f).docs.map((d) => ObjectBase.parse(d.value)));
    const key = (o: z.infer<typeof ObjectBase>) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    expect(objects.map(key).sort()).toEqual(listed.map(key).sort());
    const image = Kustomization.parse(onlyFile(KUSTOMIZATION).docs[0]?.value).images?.[0];
    const builtDaemonSet = DaemonSet.parse(parseManifests("kubectl kustomize output", built.stdout).map((d) => d.value).find((v) => ObjectBase.safeParse(v).data?.kind === "DaemonSet"));
    expect(builtDaemonSet.spec.template.spec.containers[0]?.image).toBe(`${image?.newName ?? image?.name ?? ""}:${image?.newTag ?? ""}`);
  });
});
