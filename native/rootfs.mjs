// Builds the sandbox image: the read-only lower layer every learner's root filesystem starts
// from. It is assembled from the host's own Debian/Ubuntu packages (their files hard-linked,
// or copied across filesystems), so it needs no network, matches the host's libc, and holds
// nothing of the host beyond those packages: no /home, /root, /work, secrets or host /etc.
//
// Usage: node native/rootfs.mjs [DIR]   (default /var/lib/nslab/rootfs; NSLAB_ROOTFS)
// Runs at `npm install` when root. Rebuilds only when the package set or versions changed.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

// What a learner needs for the course: a shell, coreutils, the namespace tools (unshare,
// nsenter, lsns), mount, ip (ip netns), ps, and a pager. Their dependencies are added.
export const ROOT_PACKAGES = [
  "base-files",
  "bash",
  "dash",
  "coreutils",
  "util-linux",
  "mount",
  "iproute2",
  "procps",
  "psmisc",
  "grep",
  "sed",
  "mawk",
  "findutils",
  "diffutils",
  "hostname",
  "ncurses-base",
  "ncurses-bin",
  "less",
  "gzip",
  "tar",
  "debianutils",
  "libc-bin",
];

const DEFAULT_DATA_DIR = "/var/lib/nslab";
// (Node's fs.constants has no S_ISUID or S_ISGID.)
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

// Bumped when the way the image is assembled changes, so existing images are rebuilt:
// 3 — setuid and setgid files copied without their bits instead of hard-linked.
const IMAGE_FORMAT = 3;

// Files no lesson reads and that would only make the image larger.
const SKIP_PREFIXES = ["/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/", "/usr/share/lintian/"];
// Packages that come in as dependencies but do nothing inside a sandbox.
const SKIP_PACKAGES = new Set(["dpkg", "perl-base", "debconf", "init-system-helpers", "systemd"]);

function dpkgQuery(args) {
  return execFileSync("dpkg-query", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Whether a ${db:Status-Abbrev} (desired, status, error flags) means the package's files are
 *  on disk. Another apt run leaves packages in triggers-awaited (W) or triggers-pending (t):
 *  installed all the same, and counting them out would rebuild the image without them. */
export function statusMeansInstalled(abbrev) {
  return /^[ih][itW]/.test(abbrev);
}

/** Whether the host has `pkg` installed, by statusMeansInstalled. */
export function hostHasPackage(pkg) {
  try {
    return statusMeansInstalled(dpkgQuery(["-W", "-f=${db:Status-Abbrev}", pkg]));
  } catch {
    return false;
  }
}

function installedVersion(pkg) {
  try {
    const out = dpkgQuery(["-W", "-f=${db:Status-Abbrev}\t${Version}\t${Pre-Depends}\t${Depends}", pkg]).trim();
    const [status, version, pre, deps] = out.split("\t");
    if (!statusMeansInstalled(status)) return null;
    return { version, depends: `${pre}, ${deps}` };
  } catch {
    return null;
  }
}

/** Package names from a Depends field: first installed alternative of each group. */
function dependencyNames(field) {
  const names = [];
  for (const group of field.split(",")) {
    const alternatives = group
      .split("|")
      .map((a) => a.trim().split(/[\s(:]/)[0])
      .filter(Boolean);
    const found = alternatives.find((a) => installedVersion(a));
    if (found) names.push(found);
  }
  return names;
}

export function packageClosure(roots = ROOT_PACKAGES) {
  const versions = new Map();
  const missing = [];
  const queue = [...roots];
  while (queue.length) {
    const pkg = queue.shift();
    if (versions.has(pkg) || SKIP_PACKAGES.has(pkg)) continue;
    const info = installedVersion(pkg);
    if (!info) {
      missing.push(pkg);
      continue;
    }
    versions.set(pkg, info.version);
    queue.push(...dependencyNames(info.depends));
  }
  return { versions, missing };
}

function ensureParent(dest) {
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
}

/** Copy one host path into the image, keeping owner, mode and links. */
function place(hostPath, root) {
  let st;
  try {
    st = fs.lstatSync(hostPath);
  } catch {
    return; // listed by dpkg but removed on this host (e.g. a diverted or pruned file)
  }
  const dest = path.join(root, hostPath);
  if (st.isDirectory()) {
    if (!fs.existsSync(dest)) {
      ensureParent(dest);
      fs.mkdirSync(dest, { mode: st.mode & 0o7777 });
      fs.chmodSync(dest, st.mode & 0o7777);
    }
    return;
  }
  if (fs.existsSync(dest) || isLink(dest)) return;
  ensureParent(dest);
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(hostPath), dest);
  } else if (st.isFile()) {
    // A setuid or setgid file is copied with the bits cleared, never linked: a hard link would
    // keep the host's old setuid binary runnable by any host user after a security update
    // replaced it, until the image is rebuilt. (The sandbox mounts the image nosuid anyway.)
    if (st.mode & (S_ISUID | S_ISGID)) {
      fs.copyFileSync(hostPath, dest);
      fs.chownSync(dest, st.uid, st.gid);
      fs.chmodSync(dest, st.mode & 0o777 & ~0o6000);
      return;
    }
    try {
      fs.linkSync(hostPath, dest);
    } catch {
      fs.copyFileSync(hostPath, dest);
      fs.chmodSync(dest, st.mode & 0o7777);
      fs.chownSync(dest, st.uid, st.gid);
    }
  }
}

function isLink(p) {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

const ETC_FILES = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
  "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
  "etc/shadow": "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
  "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
  "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
  "etc/motd":
    "\nWelcome to your nslab sandbox: a real shell in its own namespaces and cgroup.\n" +
    "You are root in here, and only in here. Everything you change lives in your own layer.\n\n",
  "root/.bashrc":
    "# nslab sandbox shell\n" +
    "[ -z \"$PS1\" ] && return\n" +
    "PS1='\\[\\e[1;32m\\]\\u@\\h\\[\\e[0m\\]:\\[\\e[1;34m\\]\\w\\[\\e[0m\\]# '\n" +
    "alias ls='ls --color=auto'\n" +
    // Printed with builtins alone: every shell starts without forking a `cat` for it.
    "if [ -s /etc/motd ] && [ -z \"$NSLAB_QUIET\" ]; then mapfile -t motd </etc/motd; printf '%s\\n' \"${motd[@]}\"; unset motd; fi\n",
  "root/.profile": "[ -n \"$BASH\" ] && [ -r ~/.bashrc ] && . ~/.bashrc\n",
};

// Commands Debian provides through its alternatives system (which the image does not run):
// the generic name, and the program that answers to it here.
const ALTERNATIVES = { "usr/bin/awk": "mawk", "usr/bin/pager": "less", "usr/bin/nawk": "mawk" };

// Mount points the launcher uses; they must exist in the image.
const MOUNT_POINTS = ["proc", "sys", "dev", "tmp", "root", "run", "var/tmp", "usr/local/bin", "usr/local/sbin", "mnt", "home", "opt", "srv"];

// The dynamic linker's cache of where each library is. Without it every program started in a
// sandbox looks for each of its libraries in a dozen directories that do not exist (glibc-hwcaps,
// tls, …) before it finds it; on a fresh overlay each of those misses is a lookup through every
// layer, which made a shell's start cost several times what it does with the cache.
const LINKER_CACHE = "etc/ld.so.cache";

function writeLinkerCache(root) {
  // -X: the cache only; the image's links are the packages' own.
  execFileSync("ldconfig", ["-X", "-r", root], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` } });
  if (!fs.existsSync(path.join(root, LINKER_CACHE))) throw new Error(`ldconfig -r ${root} wrote no ${LINKER_CACHE}`);
}

export function buildRootfs(dest, { log = console.log } = {}) {
  const { versions, missing } = packageClosure();
  const essentials = ["bash", "coreutils", "util-linux"];
  const absent = essentials.filter((p) => !versions.has(p));
  if (absent.length) throw new Error(`host packages missing for the sandbox image: ${absent.join(", ")}`);
  const manifest = [...versions.entries()].sort().map(([p, v]) => `${p} ${v}`).join("\n");
  const stamp = createHash("sha256")
    .update(manifest)
    .update(JSON.stringify(ETC_FILES))
    .update(MOUNT_POINTS.join())
    .update(JSON.stringify(ALTERNATIVES))
    .update(LINKER_CACHE)
    .update(`image format ${IMAGE_FORMAT}`)
    .digest("hex");
  // The data directory (the image's parent, /var/lib/nslab by default) is root's alone: it
  // holds the database and the learners' layers, and an image built by an older release may
  // still hold hard links to host files.
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  if (path.dirname(dest) === DEFAULT_DATA_DIR) fs.chmodSync(DEFAULT_DATA_DIR, 0o700);
  const stampFile = path.join(dest, ".nslab-image");
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8").trim() === stamp) {
    log(`sandbox image up to date: ${dest} (${versions.size} packages)`);
    return { dest, packages: versions.size, missing, rebuilt: false };
  }
  const tmp = `${dest}.new-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o755 });
  // Merged-/usr hosts have /bin, /lib... as symlinks into /usr: recreate them first so that
  // files listed under /bin land in /usr/bin, as on the host.
  for (const top of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const hostTop = `/${top}`;
    if (!isLink(hostTop)) continue;
    const target = fs.readlinkSync(hostTop);
    fs.mkdirSync(path.resolve(tmp, target.replace(/^\//, "")), { recursive: true, mode: 0o755 });
    fs.symlinkSync(target, path.join(tmp, top));
  }
  for (const pkg of versions.keys()) {
    const files = dpkgQuery(["-L", pkg]).split("\n").filter((f) => f.startsWith("/") && f !== "/.");
    for (const file of files) {
      if (SKIP_PREFIXES.some((p) => file.startsWith(p))) continue;
      place(file, tmp);
    }
  }
  for (const dir of MOUNT_POINTS) fs.mkdirSync(path.join(tmp, dir), { recursive: true, mode: 0o755 });
  fs.chmodSync(path.join(tmp, "tmp"), 0o1777);
  fs.chmodSync(path.join(tmp, "var/tmp"), 0o1777);
  fs.chmodSync(path.join(tmp, "root"), 0o700);
  for (const [rel, target] of Object.entries(ALTERNATIVES)) {
    const link = path.join(tmp, rel);
    if (!isLink(link) && !fs.existsSync(link) && fs.existsSync(path.join(path.dirname(link), target))) fs.symlinkSync(target, link);
  }
  for (const [rel, text] of Object.entries(ETC_FILES)) {
    const file = path.join(tmp, rel);
    ensureParent(file);
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, text, { mode: rel === "etc/shadow" ? 0o640 : 0o644 });
  }
  writeLinkerCache(tmp);
  fs.writeFileSync(path.join(tmp, "etc/nslab-image"), `${manifest}\n`);
  fs.writeFileSync(path.join(tmp, ".nslab-image"), `${stamp}\n`);
  fs.chmodSync(tmp, 0o755);
  // Swap in whole, so a running server never sees a half-built image.
  const old = `${dest}.old-${process.pid}`;
  if (fs.existsSync(dest)) fs.renameSync(dest, old);
  fs.renameSync(tmp, dest);
  fs.rmSync(old, { recursive: true, force: true });
  log(`sandbox image built: ${dest} (${versions.size} packages${missing.length ? `; not on this host: ${missing.join(", ")}` : ""})`);
  return { dest, packages: versions.size, missing, rebuilt: true };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dest = process.argv[2] ?? process.env.NSLAB_ROOTFS ?? "/var/lib/nslab/rootfs";
  buildRootfs(dest);
}
