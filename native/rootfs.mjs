// Builds the sandbox image: the read-only lower layer every learner's root filesystem starts
// from. It is assembled from the host's own Debian/Ubuntu packages (their files hard-linked,
// or copied across filesystems), so it needs no network, matches the host's libc, and holds
// nothing of the host beyond those packages: no /home, /root, /work, secrets or host /etc.
//
// Usage: node native/rootfs.mjs [DIR]   (default /var/lib/nslab/rootfs; NSLAB_ROOTFS)
// Runs at `npm install` when root. Rebuilds only when the package set or versions changed.
// Each build is a version of its own beside DIR (DIR.images/<stamp>), and DIR a link to the
// newest: a rebuild never changes a file under a running sandbox, and an old version goes only
// once no sandbox holds it (removeImageVersion).

import { execFileSync, spawnSync } from "node:child_process";
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

/** Of those, the ones a minimal Debian or Ubuntu may lack: setup installs them with apt when
 *  missing (the Dockerfile's runtime stage installs them itself). */
export const IMAGE_TOOL_PACKAGES = ["iproute2", "procps", "psmisc", "util-linux", "less"];

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

/** Every installed package (by statusMeansInstalled): its version and dependency fields, from
 *  one dpkg-query. The closure below looks up some 70 packages and their alternatives; one
 *  process each made every setup, start and test spend seconds here. */
function installedPackages() {
  const installed = new Map();
  const out = dpkgQuery(["-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\t${Pre-Depends}\t${Depends}\n"]);
  for (const line of out.split("\n")) {
    const [name, status, version, pre, deps] = line.split("\t");
    if (name && statusMeansInstalled(status ?? "")) installed.set(name, { version, depends: `${pre ?? ""}, ${deps ?? ""}` });
  }
  return installed;
}

/** Package names from a Depends field: first installed alternative of each group. */
function dependencyNames(field, installed) {
  const names = [];
  for (const group of field.split(",")) {
    const alternatives = group
      .split("|")
      .map((a) => a.trim().split(/[\s(:]/)[0])
      .filter(Boolean);
    const found = alternatives.find((a) => installed.has(a));
    if (found) names.push(found);
  }
  return names;
}

export function packageClosure(roots = ROOT_PACKAGES) {
  const installed = installedPackages();
  const versions = new Map();
  const missing = [];
  const queue = [...roots];
  while (queue.length) {
    const pkg = queue.shift();
    if (versions.has(pkg) || SKIP_PACKAGES.has(pkg)) continue;
    const info = installed.get(pkg);
    if (!info) {
      missing.push(pkg);
      continue;
    }
    versions.set(pkg, info.version);
    queue.push(...dependencyNames(info.depends, installed));
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

/** Where the versions of the image at `dest` live: `<dest>.images/<first 16 hex of its stamp>`.
 *  `dest` itself is a relative symbolic link to the newest, replaced by a rename. */
export function imagesDirOf(dest) {
  return `${dest}.images`;
}

/** The version `dest` names now: its directory under imagesDirOf(dest); null when there is no
 *  image, or when `dest` is a directory of its own (the layout before versions). */
function currentVersion(dest) {
  try {
    if (!fs.lstatSync(dest).isSymbolicLink()) return null;
  } catch {
    return null;
  }
  return path.basename(fs.readlinkSync(dest));
}

function stampOf(dir) {
  try {
    return fs.readFileSync(path.join(dir, ".nslab-image"), "utf8").trim();
  } catch {
    return null;
  }
}

/** Whether `pid` names a live process. */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

// flock(1)'s exit status when the lock is held elsewhere (--conflict-exit-code).
const IN_USE = 75;

/**
 * Remove one version of the image, unless a sandbox uses it. Every launcher holds a shared
 * flock on the image directory it mounts for as long as its sandbox lives (native/launcher.c,
 * hold_image): the exclusive lock taken here without waiting fails while any does. Under the
 * lock the directory is marked first, so a launcher that opened it just before and locks it
 * just after sees the mark (or the emptied directory) and refuses to start on it.
 * True when it is gone.
 */
export function removeImageVersion(dir) {
  const removed = spawnSync(
    "flock",
    ["--exclusive", "--nonblock", "--conflict-exit-code", String(IN_USE), dir, "sh", "-c", 'touch "$1/.nslab-removing" && rm -rf -- "$1"', "sh", dir],
    { encoding: "utf8" },
  );
  if (removed.error) throw new Error(`cannot remove the old sandbox image ${dir}: flock: ${removed.error.message} (util-linux provides it)`);
  if (removed.status === IN_USE) return false;
  if (removed.status !== 0) throw new Error(`cannot remove the old sandbox image ${dir}: ${removed.stderr.trim() || `exit ${removed.status}`}`);
  return true;
}

/** The versions other than `keep` that no sandbox uses any more are removed; a build that died
 *  half way (`.new-<pid>` of a process gone) too. Returns the versions kept because in use. */
export function pruneImages(dest, keep) {
  const images = imagesDirOf(dest);
  const inUse = [];
  let names;
  try {
    names = fs.readdirSync(images);
  } catch {
    return inUse;
  }
  for (const name of names) {
    if (keep.has(name)) continue;
    const dir = path.join(images, name);
    const building = /^\.new-(\d+)$/.exec(name);
    if (building) {
      if (!alive(Number(building[1]))) fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (!removeImageVersion(dir)) inUse.push(name);
  }
  return inUse;
}

/** Point `dest` at `version` (a name under imagesDirOf(dest)) in one rename: a launcher opening
 *  `dest` meanwhile gets the old version or the new one, never neither. */
function switchTo(dest, version) {
  const link = `${dest}.link-${process.pid}`;
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.join(path.basename(imagesDirOf(dest)), version), link);
  fs.renameSync(link, dest);
}

export function buildRootfs(dest, { log = console.log, packages = ROOT_PACKAGES } = {}) {
  const { versions, missing } = packageClosure(packages);
  const essentials = ["bash", "coreutils", "util-linux"].filter((p) => packages.includes(p));
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
  const images = imagesDirOf(dest);
  const version = stamp.slice(0, 16);
  const summary = `${versions.size} packages${missing.length ? `; not on this host: ${missing.join(", ")}` : ""}`;
  /** The other versions removed but `keep`, and a word on those still in use. */
  const pruneBut = (keep) => {
    const inUse = pruneImages(dest, keep);
    if (inUse.length) log(`kept ${inUse.length} older sandbox image${inUse.length > 1 ? "s" : ""} that running sandboxes use (${inUse.join(", ")}); a later setup or start removes ${inUse.length > 1 ? "them" : "it"}`);
  };

  if (stampOf(dest) === stamp) {
    // Up to date (in either layout). Older versions whose sandboxes have ended go now.
    const current = currentVersion(dest);
    if (current) pruneBut(new Set([current]));
    log(`sandbox image up to date: ${dest} (${summary})`);
    return { dest, packages: versions.size, missing, rebuilt: false };
  }

  fs.mkdirSync(images, { recursive: true, mode: 0o755 });
  // The layout before versions: the image was the directory `dest` itself, used by sandboxes
  // whose launchers took no lock on it. It moves, whole, beside the versions (a rename: their
  // mounts do not notice) and is not removed by this run, which cannot tell whether they ended.
  const keep = new Set([version]);
  if (!fs.lstatSync(dest, { throwIfNoEntry: false })?.isSymbolicLink() && fs.existsSync(dest)) {
    const moved = `unversioned-${process.pid}`;
    fs.renameSync(dest, path.join(images, moved));
    keep.add(moved);
  }

  const target = path.join(images, version);
  if (stampOf(target) === stamp) {
    // Built before and still here (a return to an earlier package set): nothing to build.
    switchTo(dest, version);
    pruneBut(keep);
    log(`sandbox image switched back: ${dest} → ${version} (${summary})`);
    return { dest, packages: versions.size, missing, rebuilt: true };
  }
  if (fs.existsSync(target) && !removeImageVersion(target)) {
    throw new Error(`the sandbox image ${target} is incomplete and in use; stop the lab and run setup again`);
  }

  const tmp = path.join(images, `.new-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o755 });
  // Merged-/usr hosts have /bin, /lib... as symlinks into /usr: recreate them first so that
  // files listed under /bin land in /usr/bin, as on the host.
  for (const top of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const hostTop = `/${top}`;
    if (!isLink(hostTop)) continue;
    const linkTarget = fs.readlinkSync(hostTop);
    fs.mkdirSync(path.resolve(tmp, linkTarget.replace(/^\//, "")), { recursive: true, mode: 0o755 });
    fs.symlinkSync(linkTarget, path.join(tmp, top));
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
  for (const [rel, linkTarget] of Object.entries(ALTERNATIVES)) {
    const link = path.join(tmp, rel);
    if (!isLink(link) && !fs.existsSync(link) && fs.existsSync(path.join(path.dirname(link), linkTarget))) fs.symlinkSync(linkTarget, link);
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
  // Complete before it gets its name, and named before `dest` points at it: a server never
  // sees a half-built image. Sandboxes on the previous version keep it until they end.
  fs.renameSync(tmp, target);
  switchTo(dest, version);
  pruneBut(keep);
  log(`sandbox image built: ${dest} → ${path.relative(path.dirname(dest), target)} (${summary})`);
  return { dest, packages: versions.size, missing, rebuilt: true };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dest = process.argv[2] ?? process.env.NSLAB_ROOTFS ?? "/var/lib/nslab/rootfs";
  buildRootfs(dest);
}
