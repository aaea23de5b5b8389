/*
 * nslab-launcher — start one learner's sandbox and exec their command in it.
 *
 * Privileges: runs as host root (the nslab server is root). It is the only nslab code that
 * creates namespaces or mounts anything. Everything the learner runs ends up as an
 * unprivileged host uid range of its own, inside new user, pid, mount, uts, ipc, net and
 * cgroup namespaces, on an OverlayFS root whose writable layer is a size-limited ext4 image of
 * its own on a loop device (or, where the host has none, a tmpfs).
 *
 * Inputs:  argv (see usage()); the server builds it from a typed options object in
 *          server/sandbox/launcher-args.ts, and that module is the only one that knows these
 *          flags. With --layer-fd N, descriptor N is the writable layer, mounted ahead of the
 *          start and detached (mnt_prepared_layer). The session cgroups are created and
 *          limited by the server before we run; we only move the sandbox's init into them.
 * Outputs: stdin/stdout/stderr are the learner's terminal (a pty from node-pty, or the caller's
 *          stdio for `nslab run`). With --status-fd N, one JSON line per step with a monotonic
 *          timestamp in nanoseconds, from both the parent and the child, on the pipe the caller
 *          handed over as descriptor N (the page draws it; the step names are the closed list
 *          of common/launch-events.ts). With --layer-fd, the layer mounted ahead (a directory,
 *          moved onto the mount directory and closed at once). No other descriptor above 2
 *          is kept.
 *          Exit status: the command's own status, 128+N if signal N killed it, 125 if the
 *          launcher itself failed (the reason is on stderr and in the status report), 126/127
 *          when the command cannot be executed / found, as a shell does.
 *
 * Order of steps (the order the trusted launchers use; see ARCHITECTURE.md, "The launcher"):
 *   parent (host root)                         child (pid 1 of the new pid namespace)
 *   1. validate every argument                 .
 *   2. non-dumpable, drop supplementary groups .
 *   3. private mount namespace for itself,     .
 *      the writable layer (ext4 or tmpfs)      .
 *   4. clone: user, pid, net, uts, ipc ns  ->  waits for "go"
 *   5. deny setgroups, write uid/gid maps      .
 *   6. idmapped read-only view of the image,   .
 *      OverlayFS root on it, /sys for the      .
 *      sandbox's network namespace (locked)    .
 *   7. move the child into the session cgroup  .
 *   8. send "go"                           ->  become root of the user namespace,
 *                                              new mount + cgroup namespaces, private propagation,
 *                                              /proc, /sys/fs/cgroup, /dev, /tmp,
 *                                              hostname, loopback up, pivot_root (old root
 *                                              detached), capability bounding set,
 *                                              rlimits, no_new_privs, seccomp, exec
 *   9. wait, report the status                 .
 *
 * Mounts made by the parent live only in its private mount namespace, and the child's in its
 * own: when the last process of a sandbox dies the kernel frees every one of them, so a killed
 * launcher cannot leave a mount behind on the host. A layer mounted ahead (--layer-fd) was in
 * no namespace before it was moved into the parent's; the server's descriptor of it keeps the
 * filesystem until the server closes it, or dies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layer.h"
#include "seccomp.h"

#define EXIT_LAUNCHER 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

#define MAX_CGROUPS 8
#define MAX_JOINED_CGROUPS 16
/* The ptys of the sandbox's own /dev/pts; PTYS_PER_SANDBOX in server/sandbox/launcher-args.ts. */
#define PTYS_PER_SANDBOX 32
#define MAX_ENV 64
#define ID_COUNT 65536u

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */

struct cgroup_dir {
  char name[32];   /* v1 controllers as mounted inside ("memory", "cpu,cpuacct"), "" for v2 */
  const char *dir; /* host path of the session cgroup */
  int fd;          /* that directory, opened O_PATH once the descriptors are settled */
};

struct options {
  const char *rootfs;     /* read-only image, the lower layer */
  int rootfs_fd;          /* that directory, opened O_PATH (open_checked_dirs) */
  int image_lock_fd;      /* that directory again, read-only, its shared flock held (hold_image) */
  const char *mount_dir;  /* empty host directory; the writable layer is mounted here */
  uint32_t uid_base;      /* first host uid/gid of this sandbox's range */
  const char *hostname;
  const char *layer_image; /* the session's ext4 image (disk layer), or NULL */
  int layer_fd;           /* or that image already mounted (--layer-fd), detached, or -1 */
  uint64_t layer_bytes;   /* size of the writable layer's tmpfs (no disk layer) */
  uint64_t layer_inodes;
  uint64_t tmp_bytes;     /* /tmp's tmpfs (no disk layer; on one, /tmp is part of the layer) */
  uint64_t shm_bytes;     /* /dev/shm's tmpfs */
  int cgroup_version;     /* 1 or 2 */
  struct cgroup_dir cgroups[MAX_CGROUPS];
  int cgroup_count;
  /* v1: the session's leaf in each hierarchy it does not mount (cpuset, freezer, name=systemd,
   * a hybrid host's cgroup2, ...), joined so that none shows the host's tree from inside. */
  const char *joined[MAX_JOINED_CGROUPS];
  int joined_count;
  int status_fd;          /* the caller's pipe for the step report, or -1 */
  const char *cwd;
  char *env[MAX_ENV + 1];
  int env_count;
  char **argv;            /* the command */
};

static struct options opt = {.cwd = "/", .cgroup_version = 0, .status_fd = -1, .layer_fd = -1, .rootfs_fd = -1, .image_lock_fd = -1};
/* Where a --layer-fd is kept once the descriptors are settled: beside the report's 3. */
#define LAYER_FD 4
static int status_fd = -1;

/* ---------------------------------------------------------------------------------------- */
/* Reporting                                                                                */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How much of a detail a report line carries: at most REPORT_DETAIL_BYTES of it, cut at a
 * character boundary and marked with "…" when longer (a command name can be as long as the
 * learner likes), escaped into at most REPORT_ESCAPED_BYTES. The reader takes lines of up to
 * 1 KiB with details of up to 512 characters (server/sandbox/launch-report.ts). */
#define REPORT_DETAIL_BYTES 256
#define REPORT_ESCAPED_BYTES 640

/* One JSON line per step. `step` is always a fixed identifier from this file; `detail` may
 * carry a path or an error text, so it is escaped. A single write() keeps lines whole even
 * though parent and child share the file (O_APPEND). */
static void report(const char *step, const char *detail) {
  if (status_fd < 0) return;
  const char *d = detail ? detail : "";
  size_t len = strnlen(d, REPORT_DETAIL_BYTES + 1), cut = len;
  bool clipped = len > REPORT_DETAIL_BYTES;
  if (clipped) {
    cut = REPORT_DETAIL_BYTES;
    /* Back to the first byte of a UTF-8 sequence, so no character is cut in half. */
    while (cut > 0 && ((unsigned char)d[cut] & 0xc0) == 0x80) cut--;
  }
  char esc[REPORT_ESCAPED_BYTES + 8];
  size_t j = 0;
  for (size_t i = 0; i < cut; i++) {
    unsigned char c = (unsigned char)d[i];
    if (j + 6 > REPORT_ESCAPED_BYTES) {
      clipped = true;
      /* Stop at a whole character here too. */
      while (i > 0 && j > 0 && ((unsigned char)d[i] & 0xc0) == 0x80) {
        i--;
        j--;
      }
      break;
    }
    if (c == '"' || c == '\\') {
      esc[j++] = '\\';
      esc[j++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      j += (size_t)snprintf(esc + j, sizeof esc - j, "\\u%04x", c);
    } else {
      esc[j++] = (char)c;
    }
  }
  if (clipped) {
    memcpy(esc + j, "\xe2\x80\xa6", 3); /* … */
    j += 3;
  }
  esc[j] = 0;
  char line[REPORT_ESCAPED_BYTES + 128];
  int n = snprintf(line, sizeof line, "{\"step\":\"%s\",\"pid\":%d,\"tNs\":%" PRIu64 "%s%s%s}\n",
                   step, (int)getpid(), now_ns(), detail ? ",\"detail\":\"" : "", detail ? esc : "",
                   detail ? "\"" : "");
  if (n <= 0 || (size_t)n >= sizeof line) return; /* cannot happen with the bounds above */
  /* One write of less than PIPE_BUF bytes: the kernel keeps it whole on the pipe (pipe(7)). */
  if (write(status_fd, line, (size_t)n) < 0) {
    /* The report is not a control channel: losing a line is not fatal. */
  }
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "nslab-launcher: %s\r\n", msg);
  report("error", msg);
  _exit(EXIT_LAUNCHER);
}

/* die() with the errno text appended: "mount overlay on /x: Invalid argument". */
static void die_errno(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_errno(const char *fmt, ...) {
  int saved = errno;
  char msg[340];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  die("%s: %s", msg, strerror(saved));
}

/* ---------------------------------------------------------------------------------------- */
/* Argument parsing: everything is checked here, before the first privileged call.          */

static void usage(void) {
  dprintf(STDERR_FILENO,
          "usage: nslab-launcher --rootfs DIR --mount-dir DIR --uid-base N --hostname NAME\n"
          "         (--layer-image FILE | --layer-fd N | --layer-bytes N --layer-inodes N --tmp-bytes N)\n"
          "         --shm-bytes N\n"
          "         --cgroup-v1 NAME=DIR ... [--cgroup-join DIR ...] | --cgroup-v2 DIR\n"
          "         [--status-fd N] [--cwd DIR] [--env KEY=VALUE ...] -- CMD [ARG...]\n");
  _exit(EXIT_LAUNCHER);
}

static uint64_t parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max) {
  if (!s || !*s) die("%s needs a number", flag);
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || s[0] == '-') die("%s: '%s' is not a whole number", flag, s);
  if (v < min || v > max) die("%s: %llu is outside %" PRIu64 "..%" PRIu64, flag, v, min, max);
  return (uint64_t)v;
}

static const char *parse_abs_dir(const char *flag, const char *s) {
  if (!s || s[0] != '/') die("%s needs an absolute path", flag);
  struct stat st;
  if (stat(s, &st) < 0) die_errno("%s %s", flag, s);
  if (!S_ISDIR(st.st_mode)) die("%s %s: not a directory", flag, s);
  return s;
}

static bool valid_hostname(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 || s[0] == '-') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

static void add_cgroup(const char *flag, const char *name, const char *dir) {
  if (opt.cgroup_count == MAX_CGROUPS) die("%s: at most %d cgroups", flag, MAX_CGROUPS);
  struct cgroup_dir *cg = &opt.cgroups[opt.cgroup_count++];
  if (strlen(name) >= sizeof cg->name) die("%s: controller name too long", flag);
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || *p == '_' || *p == ',')) die("%s: bad controller name '%s'", flag, name);
  strcpy(cg->name, name);
  if (dir[0] != '/') die("%s needs an absolute path", flag);
  cg->dir = dir;
  cg->fd = -1;
}

static void parse_args(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) die("%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--rootfs") == 0) {
      if (v[0] != '/') die("%s needs an absolute path", a);
      opt.rootfs = v;
    } else if (strcmp(a, "--mount-dir") == 0) {
      opt.mount_dir = parse_abs_dir(a, v);
    } else if (strcmp(a, "--uid-base") == 0) {
      /* Above 65535 so no sandbox id is ever a real system account; room for the range. */
      opt.uid_base = (uint32_t)parse_u64(a, v, 65536, UINT32_MAX - ID_COUNT - 1);
    } else if (strcmp(a, "--hostname") == 0) {
      if (!valid_hostname(v)) die("--hostname '%s': use 1-63 of a-z, 0-9 and '-'", v);
      opt.hostname = v;
    } else if (strcmp(a, "--layer-bytes") == 0) {
      opt.layer_bytes = parse_u64(a, v, 1 << 20, UINT64_C(1) << 40);
    } else if (strcmp(a, "--layer-inodes") == 0) {
      opt.layer_inodes = parse_u64(a, v, 64, UINT64_C(1) << 32);
    } else if (strcmp(a, "--tmp-bytes") == 0) {
      opt.tmp_bytes = parse_u64(a, v, 1 << 20, UINT64_C(1) << 40);
    } else if (strcmp(a, "--shm-bytes") == 0) {
      opt.shm_bytes = parse_u64(a, v, 1 << 20, UINT64_C(1) << 40);
    } else if (strcmp(a, "--layer-image") == 0) {
      if (v[0] != '/') die("--layer-image needs an absolute path");
      opt.layer_image = v;
    } else if (strcmp(a, "--layer-fd") == 0) {
      opt.layer_fd = (int)parse_u64(a, v, 3, INT_MAX);
    } else if (strcmp(a, "--cgroup-v1") == 0) {
      if (opt.cgroup_version == 2) die("--cgroup-v1 and --cgroup-v2 cannot be mixed");
      opt.cgroup_version = 1;
      const char *eq = strchr(v, '=');
      if (!eq) die("--cgroup-v1 wants NAME=DIR, got '%s'", v);
      char name[64];
      size_t n = (size_t)(eq - v);
      if (n == 0 || n >= sizeof name) die("--cgroup-v1 '%s': bad controller name", v);
      memcpy(name, v, n);
      name[n] = 0;
      add_cgroup(a, name, eq + 1);
    } else if (strcmp(a, "--cgroup-join") == 0) {
      if (opt.joined_count == MAX_JOINED_CGROUPS) die("%s: at most %d cgroups", a, MAX_JOINED_CGROUPS);
      opt.joined[opt.joined_count++] = parse_abs_dir(a, v);
    } else if (strcmp(a, "--cgroup-v2") == 0) {
      if (opt.cgroup_version == 1) die("--cgroup-v1 and --cgroup-v2 cannot be mixed");
      if (opt.cgroup_count) die("--cgroup-v2 given twice");
      opt.cgroup_version = 2;
      add_cgroup(a, "", v);
    } else if (strcmp(a, "--status-fd") == 0) {
      /* 0-2 are the learner's terminal; the report needs a descriptor of its own. It may be
       * any number a busy server has free: it is checked to be a pipe and moved to 3. */
      opt.status_fd = (int)parse_u64(a, v, 3, INT_MAX);
    } else if (strcmp(a, "--cwd") == 0) {
      if (v[0] != '/') die("--cwd needs an absolute path");
      opt.cwd = v;
    } else if (strcmp(a, "--env") == 0) {
      if (opt.env_count == MAX_ENV) die("--env: at most %d variables", MAX_ENV);
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) die("--env wants KEY=VALUE, got '%s'", v);
      opt.env[opt.env_count++] = (char *)v;
    } else {
      usage();
    }
  }
  if (i >= argc) die("no command given after --");
  opt.argv = &argv[i];
  if (!opt.rootfs) die("--rootfs is required");
  if (!opt.mount_dir) die("--mount-dir is required");
  if (!opt.uid_base) die("--uid-base is required");
  if (!opt.hostname) die("--hostname is required");
  /* The image's own size bounds a disk layer (server/sandbox/layer-disk.ts made it so): a
   * tmpfs size beside it would be a second, silently ignored limit. */
  bool disk = opt.layer_image || opt.layer_fd >= 0;
  if (opt.layer_image && opt.layer_fd >= 0) die("--layer-image and --layer-fd are two ways to give one layer: give one");
  if (disk && (opt.layer_bytes || opt.layer_inodes || opt.tmp_bytes))
    die("a disk layer (--layer-image, --layer-fd) is sized when it is made; --layer-bytes, --layer-inodes and --tmp-bytes are for a tmpfs layer");
  if (!disk && (!opt.layer_bytes || !opt.layer_inodes || !opt.tmp_bytes))
    die("--layer-image or --layer-fd, or --layer-bytes, --layer-inodes and --tmp-bytes, are required");
  if (opt.layer_fd >= 0 && opt.layer_fd == opt.status_fd) die("--layer-fd and --status-fd name the same descriptor");
  if (!opt.shm_bytes) die("--shm-bytes is required");
  if (!opt.cgroup_count) die("a --cgroup-v1 or --cgroup-v2 is required");
  if (opt.joined_count && opt.cgroup_version != 1) die("--cgroup-join goes with --cgroup-v1 (v2 has one hierarchy)");
  if (strlen(opt.mount_dir) > PATH_MAX - 64) die("--mount-dir is too long");
}

/* The image and the session's cgroup directories, opened once with O_PATH as directories (a
 * session's cgroup not through a symlink at its last component: the image may be configured
 * as one), and used through those descriptors from then on (open_tree, openat): what is used
 * is the directory opened here, and a path swapped for a symlink later would not be followed. Done in the launcher's
 * own mount namespace, once it has one: open_tree clones only a mount of the caller's
 * namespace, and a descriptor opened before the unshare names the host's. By then descriptors
 * 3 and up are settled, so no dup or close_range can take one of them away. They are
 * close-on-exec, closed by the child at once and by the parent once used. The mount directory
 * keeps its path: the writable layer is mounted onto it, after which a descriptor opened
 * before would name the covered directory, not the layer. */
static int open_dir(const char *flag, const char *path, int nofollow) {
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
  if (fd < 0) die_errno("%s %s", flag, path);
  return fd;
}

/* The image is shared by every sandbox, and a rebuild puts a new version beside it and removes
 * the old one once no sandbox uses it (native/rootfs.mjs, removeImageVersion). What "uses" means
 * is this shared flock, held by the launcher for as long as its sandbox lives (the descriptor is
 * never closed in this process; the kernel drops the lock when it exits). The remover takes the
 * exclusive lock without waiting, marks the directory, then empties it: a lock refused here, a
 * mark, or a directory already unlinked means the image is on its way out, and the sandbox must
 * not start on files that are being deleted under it. */
static void hold_image(void) {
  static const char removing[] = "this version of the sandbox image is being removed (a newer one replaced it); start the sandbox again";
  opt.image_lock_fd = openat(opt.rootfs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (opt.image_lock_fd < 0) die_errno("--rootfs %s", opt.rootfs);
  if (flock(opt.image_lock_fd, LOCK_SH | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) die("--rootfs %s: %s", opt.rootfs, removing);
    die_errno("--rootfs %s: lock the image", opt.rootfs);
  }
  struct stat st;
  if (fstat(opt.image_lock_fd, &st) < 0) die_errno("--rootfs %s", opt.rootfs);
  if (st.st_nlink == 0 || faccessat(opt.rootfs_fd, ".nslab-removing", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    die("--rootfs %s: %s", opt.rootfs, removing);
}

static void open_checked_dirs(void) {
  opt.rootfs_fd = open_dir("--rootfs", opt.rootfs, 0);
  hold_image();
  for (int i = 0; i < opt.cgroup_count; i++)
    opt.cgroups[i].fd = open_dir(opt.cgroup_version == 1 ? "--cgroup-v1" : "--cgroup-v2", opt.cgroups[i].dir, 1);
}

static void close_checked_dirs(void) {
  if (opt.rootfs_fd >= 0) close(opt.rootfs_fd);
  opt.rootfs_fd = -1;
  /* The child's copy only: the lock belongs to the open file, which the launcher keeps. */
  if (opt.image_lock_fd >= 0) close(opt.image_lock_fd);
  opt.image_lock_fd = -1;
  for (int i = 0; i < opt.cgroup_count; i++) {
    if (opt.cgroups[i].fd >= 0) close(opt.cgroups[i].fd);
    opt.cgroups[i].fd = -1;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Small checked helpers                                                                    */

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die_errno("open %s", path);
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) die_errno("write '%s' to %s", text, path);
  if (close(fd) < 0) die_errno("close %s", path);
}

static void mount_or_die(const char *src, const char *target, const char *type,
                         unsigned long flags, const char *data) {
  if (mount(src, target, type, flags, data) < 0)
    die_errno("mount %s on %s", type ? type : src, target);
}

static void path_join(char *out, const char *a, const char *b) {
  if (snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) die("path too long: %s/%s", a, b);
}

static void mkdir_or_die(const char *path, mode_t mode) {
  if (mkdir(path, mode) < 0 && errno != EEXIST) die_errno("mkdir %s", path);
}

/* ---------------------------------------------------------------------------------------- */
/* Parent side: user namespace maps, writable layer, idmapped image, overlay, cgroups        */

static void ns_write_maps(pid_t child) {
  char path[64], map[64];
  /* Deny setgroups first: an unprivileged range must not be able to drop a group and so
   * gain access that a negative group permission denied (user_namespaces(7)). */
  snprintf(path, sizeof path, "/proc/%d/setgroups", child);
  write_file(path, "deny");
  snprintf(map, sizeof map, "0 %u %u\n", opt.uid_base, ID_COUNT);
  snprintf(path, sizeof path, "/proc/%d/uid_map", child);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", child);
  write_file(path, map);
}

/* The disk layer: the session's own ext4 image, made by the server at the layer's size and
 * inode count, attached to a free loop device and mounted on the mount directory. Its files
 * live on disk, so filling it ends in ENOSPC at its size, not in the OOM killer as a tmpfs
 * charged to the memory limit did (their page cache is reclaimable, tmpfs pages are not).
 * One filesystem per session rather than one shared with project quotas: kernels built
 * without CONFIG_QFMT_V2 / CONFIG_XFS_QUOTA (this project's build hosts) have no quotas.
 * LO_FLAGS_AUTOCLEAR: the device detaches itself once the mount is gone, and the mount lives
 * only in this launcher's mount namespace and the sandbox's, so a killed launcher leaves no
 * loop device or mount behind. LO_FLAGS_DIRECT_IO: no second copy of the layer's pages in the
 * image file's page cache (the kernel falls back to buffered I/O where it cannot). */
/* A loop device's node, open. In a container /dev is a copy made when the container started,
 * without the loop devices the kernel adds later (LOOP_CTL_GET_FREE makes one when none is
 * free): then a node of our own, made on a tmpfs mounted for a moment on the mount directory in
 * this launcher's own mount namespace, from the numbers sysfs gives, and gone once open. */
static int open_loop_device(int n, char *dev, size_t len) {
  snprintf(dev, len, "/dev/loop%d", n);
  int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  char sys[64], numbers[32];
  snprintf(sys, sizeof sys, "/sys/block/loop%d/dev", n);
  int sfd = open(sys, O_RDONLY | O_CLOEXEC);
  if (sfd < 0) return -1;
  ssize_t got = read(sfd, numbers, sizeof numbers - 1);
  close(sfd);
  unsigned major = 0, minor = 0;
  if (got <= 0 || (numbers[got] = 0, sscanf(numbers, "%u:%u", &major, &minor)) != 2) {
    errno = ENOENT;
    return -1;
  }
  mount_or_die("nslab-loopdev", opt.mount_dir, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=4k,mode=0700");
  char node[PATH_MAX];
  path_join(node, opt.mount_dir, "loop");
  if (mknod(node, S_IFBLK | 0600, makedev(major, minor)) < 0) die_errno("mknod %s", node);
  fd = open(node, O_RDWR | O_CLOEXEC);
  int saved = errno;
  if (umount2(opt.mount_dir, MNT_DETACH) < 0) die_errno("unmount the loop device's tmpfs from %s", opt.mount_dir);
  errno = saved;
  return fd;
}

static void mnt_layer_image(void) {
  /* Opened through a detached bind mount of the image file alone: the loop device's
   * backing_file in sysfs, which every sandbox can read, then names "/" rather than the
   * host's path and another learner's session id. */
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, opt.layer_image,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (tree < 0) die_errno("open_tree --layer-image %s", opt.layer_image);
  char reopen[64];
  snprintf(reopen, sizeof reopen, "/proc/self/fd/%d", tree);
  int image = open(reopen, O_RDWR | O_CLOEXEC);
  if (image < 0) die_errno("open --layer-image %s", opt.layer_image);
  close(tree);
  struct stat st;
  if (fstat(image, &st) < 0) die_errno("fstat %s", opt.layer_image);
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0077))
    die("--layer-image %s: not a regular file of root's that only root can read", opt.layer_image);
  int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control < 0) die_errno("open /dev/loop-control");
  /* LOOP_CTL_GET_FREE only names a free device: another launcher may configure it first, and
   * then ours answers EBUSY, so ask again (as losetup does). */
  for (int attempt = 0;; attempt++) {
    int n = ioctl(control, LOOP_CTL_GET_FREE);
    if (n < 0) die_errno("ioctl LOOP_CTL_GET_FREE on /dev/loop-control");
    char dev[32];
    int loop = open_loop_device(n, dev, sizeof dev);
    if (loop < 0) die_errno("open %s", dev);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (uint32_t)image;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) {
      /* noinit_itable: the image is sparse, so its inode tables already read as zeros; the
       * kernel's background zeroing would only write them out. */
      /* Through the descriptor: a node made by open_loop_device has no name any more. */
      char source[64];
      snprintf(source, sizeof source, "/proc/self/fd/%d", loop);
      mount_or_die(source, opt.mount_dir, "ext4", MS_NOSUID | MS_NODEV, "noinit_itable,errors=remount-ro");
      close(loop);
      break;
    }
    int saved = errno;
    close(loop);
    if (saved != EBUSY || attempt == 64) {
      errno = saved;
      die_errno("ioctl LOOP_CONFIGURE %s with %s", dev, opt.layer_image);
    }
  }
  close(control);
  close(image);
}

/* A layer mounted ahead of the start (the spawner's `layer` request, native/spawner.c): the
 * session's image on a loop device as above, but as a detached mount that belongs to no mount
 * namespace, which the server holds while the session lives. It is moved onto the mount
 * directory here; the server's reference keeps the filesystem after this launcher is gone, so
 * neither the mount nor the unmount is part of a learner's start or a sandbox's exit, and the
 * spawner has made its directories (reading the image's bitmaps and tables from disk as it did)
 * before the start too. Checked before use, as what a caller hands over always is: the root of
 * an ext4 mount; detached (move_mount moves no mount that belongs to another namespace); and
 * fresh, nothing in it but lost+found and the layer's empty directories, so no other session's
 * layer and no host filesystem passes. */
static void mnt_prepared_layer(void);

/* Whether `dir` holds no entry but `allowed` ones. */
static bool dir_holds_only(const char *dir, const char *const allowed[], size_t count) {
  DIR *d = opendir(dir);
  if (!d) die_errno("opendir %s", dir);
  bool only = true;
  for (struct dirent *e; only && (errno = 0, e = readdir(d));) {
    bool known = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    for (size_t i = 0; i < count && !known; i++) known = !strcmp(e->d_name, allowed[i]);
    only = known;
  }
  if (only && errno) die_errno("readdir %s", dir);
  closedir(d);
  return only;
}

static void mnt_prepared_layer(void) {
  struct statfs fs;
  if (fstatfs(LAYER_FD, &fs) < 0) die_errno("fstatfs --layer-fd");
  if (fs.f_type != EXT4_SUPER_MAGIC) die("--layer-fd is not an ext4 filesystem");
  struct statx st;
  if (statx(LAYER_FD, "", AT_EMPTY_PATH, STATX_TYPE, &st) < 0) die_errno("statx --layer-fd");
  if (!S_ISDIR(st.stx_mode) || !(st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
      !(st.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    die("--layer-fd is not the root directory of a mount");
  if (syscall(SYS_move_mount, LAYER_FD, "", AT_FDCWD, opt.mount_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die_errno("move_mount --layer-fd onto %s", opt.mount_dir);
  close(LAYER_FD);
  const char *top[LAYER_DIR_COUNT + 1] = {"lost+found"};
  for (size_t i = 0; i < LAYER_DIR_COUNT; i++) top[i + 1] = LAYER_DIRS[i];
  if (!dir_holds_only(opt.mount_dir, top, LAYER_DIR_COUNT + 1))
    die("--layer-fd is not a fresh layer: it holds more than lost+found and the layer's directories");
  char path[PATH_MAX];
  for (size_t i = 0; i < LAYER_DIR_COUNT; i++) {
    path_join(path, opt.mount_dir, LAYER_DIRS[i]);
    struct stat st;
    if (lstat(path, &st) < 0) die_errno("--layer-fd: %s", path);
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0) die("--layer-fd: %s is not a directory of root's", path);
    if (!dir_holds_only(path, NULL, 0)) die("--layer-fd is not a fresh layer: %s is not empty", path);
  }
}

/* The writable layer: bounded in bytes and inodes, so that filling the disk or creating
 * millions of files ends in ENOSPC for this learner alone. On disk (mounted ahead, --layer-fd,
 * or here, --layer-image), or where the host has no loop devices a tmpfs, which the server then
 * sizes well below the memory limit (layer-disk.ts). */
static void mnt_writable_layer(void) {
  char data[128], path[PATH_MAX];
  if (opt.layer_fd >= 0) {
    mnt_prepared_layer();
  } else {
    if (opt.layer_image) {
      mnt_layer_image();
    } else {
      snprintf(data, sizeof data, "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=0755", opt.layer_bytes,
               opt.layer_inodes);
      mount_or_die("nslab-layer", opt.mount_dir, "tmpfs", MS_NOSUID | MS_NODEV, data);
    }
    for (size_t i = 0; i < LAYER_DIR_COUNT; i++) {
      path_join(path, opt.mount_dir, LAYER_DIRS[i]);
      mkdir_or_die(path, 0755);
    }
  }
  /* The upper directory becomes the root directory of the learner's filesystem, so it belongs
   * to the learner's root (the first id of the range). */
  path_join(path, opt.mount_dir, "upper");
  if (chown(path, opt.uid_base, opt.uid_base) < 0) die_errno("chown %s", path);
}

/* The image on disk is owned by host root. Presented through an idmapped mount that uses the
 * sandbox's own user namespace, its root-owned files appear owned by the sandbox's root, so
 * OverlayFS lets the learner change system files (copy-up into their own layer) while the
 * image itself stays read-only and shared by every sandbox. */
static void mnt_idmapped_image(pid_t child) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  int userns = open(path, O_RDONLY | O_CLOEXEC);
  if (userns < 0) die_errno("open %s", path);
  int tree = (int)syscall(SYS_open_tree, opt.rootfs_fd, "",
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  if (tree < 0) die_errno("open_tree %s", opt.rootfs);
  struct mount_attr attr = {
      .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
      .userns_fd = (uint64_t)userns,
  };
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
    die_errno("mount_setattr idmap on %s", opt.rootfs);
  path_join(path, opt.mount_dir, "lower");
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die_errno("move_mount image to %s", path);
  close(tree);
  close(userns);
  close(opt.rootfs_fd);
  opt.rootfs_fd = -1;
}

static void mnt_overlay_root(void) {
  /* Relative layer paths, resolved from the mount directory: the options are shown in the
   * learner's /proc/self/mountinfo, and host paths have no business there. */
  if (chdir(opt.mount_dir) < 0) die_errno("chdir %s", opt.mount_dir);
  mount_or_die("overlay", "root", "overlay", MS_NOSUID | MS_NODEV,
               "lowerdir=lower,upperdir=upper,workdir=work");
  if (chdir("/") < 0) die_errno("chdir /");
}

/* /sys, mounted here by host root rather than by the child: the child's copy of a mount made in
 * a more privileged namespace is locked (mount_namespaces(7)), so the learner can neither
 * remount it writable nor unmount it to reveal what is below. The kernel tags a sysfs instance
 * with the network namespace of whoever mounts it, so we enter the sandbox's for the mount and
 * come back. A locked read-only /sys is also what `ip netns exec` needs: it cannot unmount it,
 * so it mounts the new namespace's sysfs over it, which the kernel allows only while a fully
 * visible sysfs exists in the mount namespace (the mount_too_revealing() rule). */
static void mnt_sysfs(pid_t child) {
  char path[PATH_MAX];
  int host_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_net < 0) die_errno("open /proc/self/ns/net");
  snprintf(path, sizeof path, "/proc/%d/ns/net", child);
  int sandbox_net = open(path, O_RDONLY | O_CLOEXEC);
  if (sandbox_net < 0) die_errno("open %s", path);
  if (setns(sandbox_net, CLONE_NEWNET) < 0) die_errno("setns %s", path);
  path_join(path, opt.mount_dir, "root/sys");
  mount_or_die("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  if (setns(host_net, CLONE_NEWNET) < 0) die_errno("setns back to /proc/self/ns/net");
  close(sandbox_net);
  close(host_net);
}

static void cg_join(pid_t child) {
  char path[PATH_MAX], pid[16];
  snprintf(pid, sizeof pid, "%d", child);
  size_t n = strlen(pid);
  for (int i = 0; i < opt.cgroup_count; i++) {
    int fd = openat(opt.cgroups[i].fd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) die_errno("open %s/cgroup.procs", opt.cgroups[i].dir);
    if (write(fd, pid, n) != (ssize_t)n) die_errno("write %s to %s/cgroup.procs", pid, opt.cgroups[i].dir);
    if (close(fd) < 0) die_errno("close %s/cgroup.procs", opt.cgroups[i].dir);
    close(opt.cgroups[i].fd);
    opt.cgroups[i].fd = -1;
  }
  for (int i = 0; i < opt.joined_count; i++) {
    path_join(path, opt.joined[i], "cgroup.procs");
    write_file(path, pid);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Child side: the sandbox's own mounts, identity, and the exec                              */

static void mnt_dev(const char *root) {
  char dev[PATH_MAX], path[PATH_MAX], data[96];
  path_join(dev, root, "dev");
  mount_or_die("nslab-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755");
  /* A minimal /dev, as bubblewrap builds it: the harmless character devices bound from the
   * host, a private devpts instance, and no disks. */
  const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    path_join(path, dev, nodes[i]);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) die_errno("create %s", path);
    close(fd);
    mount_or_die(host, path, NULL, MS_BIND, NULL);
  }
  const char *links[][2] = {{"/proc/self/fd", "fd"},         {"/proc/self/fd/0", "stdin"},
                            {"/proc/self/fd/1", "stdout"},   {"/proc/self/fd/2", "stderr"},
                            {"pts/ptmx", "ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
    path_join(path, dev, links[i][1]);
    if (symlink(links[i][0], path) < 0) die_errno("symlink %s", path);
  }
  path_join(path, dev, "pts");
  mkdir_or_die(path, 0755);
  /* max=: every devpts instance but the host's own draws from one pool of kernel.pty.max
   * minus kernel.pty.reserve ptys, shared by all containers of the host; without a bound one
   * sandbox took 614 of its 3072. `nslab doctor` checks the pool holds this many per session.
   * An instance the learner mounts inside has its own max, bounded only by that pool and by
   * the descriptors they can hold (ARCHITECTURE.md, "The launcher"). */
  char pts_data[96];
  snprintf(pts_data, sizeof pts_data, "newinstance,ptmxmode=0666,mode=0620,max=%d", PTYS_PER_SANDBOX);
  mount_or_die("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, pts_data);
  /* The learner's terminal lives on the host's devpts, which the sandbox cannot see, so
   * ttyname() (and `tty`) would find no name for it. Bound as /dev/console, as LXC does, the
   * same device gets a name inside: glibc finds it by its device number. */
  char tty[PATH_MAX];
  struct stat by_fd, by_path;
  /* Bound by its path: the descriptor itself belongs to the server's mount namespace, which
   * mount(2) refuses as a source here. Only when the path is that very device. */
  ssize_t n = isatty(STDIN_FILENO) ? readlink("/proc/self/fd/0", tty, sizeof tty - 1) : -1;
  if (n > 0) {
    tty[n] = 0;
    if (fstat(STDIN_FILENO, &by_fd) == 0 && stat(tty, &by_path) == 0 && S_ISCHR(by_path.st_mode) &&
        by_path.st_rdev == by_fd.st_rdev) {
      path_join(path, dev, "console");
      int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) die_errno("create %s", path);
      close(fd);
      mount_or_die(tty, path, NULL, MS_BIND, NULL);
    }
  }
  path_join(path, dev, "shm");
  mkdir_or_die(path, 01777);
  /* Memory by nature (POSIX shared memory), as in Docker: the server sizes it to a fraction of
   * the memory limit, so filling it ends in ENOSPC rather than the OOM killer. */
  snprintf(data, sizeof data, "size=%" PRIu64 ",nr_inodes=16384,mode=1777", opt.shm_bytes);
  mount_or_die("nslab-shm", path, "tmpfs", MS_NOSUID | MS_NODEV, data);
}

static void mnt_cgroupfs(const char *root) {
  char base[PATH_MAX], path[PATH_MAX];
  path_join(base, root, "sys/fs/cgroup");
  if (opt.cgroup_version == 2) {
    mount_or_die("cgroup2", base, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    return;
  }
  /* v1: one hierarchy per controller, as a v1 host lays them out. The cgroup namespace makes
   * each show the session's own cgroup as its root. */
  mount_or_die("nslab-cgroup", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755");
  for (int i = 0; i < opt.cgroup_count; i++) {
    path_join(path, base, opt.cgroups[i].name);
    mkdir_or_die(path, 0755);
    mount_or_die("cgroup", path, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, opt.cgroups[i].name);
    /* Co-mounted controllers ("cpu,cpuacct") also get a link per controller, as hosts have. */
    if (!strchr(opt.cgroups[i].name, ',')) continue;
    char names[32], link[PATH_MAX];
    strcpy(names, opt.cgroups[i].name);
    for (char *save = NULL, *part = strtok_r(names, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
      path_join(link, base, part);
      if (symlink(opt.cgroups[i].name, link) < 0) die_errno("symlink %s", link);
    }
  }
  mount_or_die(NULL, base, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
               "size=16k,mode=0755");
}

static void net_loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die_errno("socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) die_errno("get flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) die_errno("bring lo up");
  close(fd);
}

/* The capabilities the sandbox's root keeps, chosen for what the course runs: unshare, nsenter,
 * mount, pivot_root, chroot, ip (netns, links, addresses), child cgroups, kill, ps/ptrace, and
 * the ordinary root of a shell (chown, permission overrides, setuid/setgid, setpriv).
 * CAP_SETFCAP stays because `unshare -Ur` maps uid 0 of the parent namespace, which the kernel
 * allows only to a creator holding it (user_namespaces(7), since Linux 5.12); CAP_SETPCAP so a
 * lesson can drop capabilities itself (capsh --drop); CAP_SYS_TIME because outside the initial
 * namespace all it grants is a time namespace's offsets (`unshare --time --boottime`,
 * time_namespaces(7)) — the clock itself wants it in the initial namespace. Everything else
 * leaves the bounding set, so no exec in this user namespace gives it back (capabilities(7)).
 * A nested one does: `unshare -U` makes a namespace whose first process holds every capability
 * again, but only over namespaces that nested one owns, never over the sandbox's own or the
 * host's; what must stay out of reach even there is the seccomp filter's job, which every
 * descendant inherits. Most dropped ones
 * are checked against the initial user namespace and mean nothing here already; the bounding
 * set also takes away the few that act on what the sandbox's own namespaces own: CAP_SYS_BOOT
 * (reboot(2) kills the pid namespace), CAP_NET_RAW (raw sockets in its network namespace),
 * CAP_CHECKPOINT_RESTORE (choosing pids), CAP_MKNOD, CAP_SYS_RESOURCE (IPC namespace limits),
 * CAP_DAC_READ_SEARCH (open_by_handle_at, the "shocker" escape). CAP_NET_ADMIN stays for the
 * network lessons (netns, veth, addresses, routes): through rtnetlink, tc's qdiscs and filters
 * come with it; the other netlink protocols are refused by seccomp.h. */
static const int caps_kept[] = {
    CAP_CHOWN,     CAP_DAC_OVERRIDE, CAP_FOWNER,     CAP_FSETID,     CAP_KILL,
    CAP_SETGID,    CAP_SETUID,       CAP_SETPCAP,    CAP_SETFCAP,    CAP_NET_BIND_SERVICE,
    CAP_NET_ADMIN, CAP_IPC_OWNER,    CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_SYS_ADMIN,
    CAP_SYS_TIME,
};

static bool cap_is_kept(int cap) {
  for (size_t i = 0; i < sizeof caps_kept / sizeof *caps_kept; i++)
    if (caps_kept[i] == cap) return true;
  return false;
}

static void caps_drop_bounding_set(void) {
  /* Every capability the running kernel knows, not only those this build's headers name:
   * PR_CAPBSET_READ answers EINVAL past the kernel's last capability. */
  for (int cap = 0; cap < 64; cap++) {
    int present = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (present < 0) {
      if (errno == EINVAL) break;
      die_errno("prctl PR_CAPBSET_READ %d", cap);
    }
    if (present == 0 || cap_is_kept(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) die_errno("prctl PR_CAPBSET_DROP %d", cap);
  }
  /* The inheritable set is already empty (a new user namespace starts with none); with the
   * ambient set empty too, the command gets capabilities only as root, from the bounding set. */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) die_errno("prctl PR_CAP_AMBIENT_CLEAR_ALL");
}

static void set_rlimits(void) {
  /* Per-process bounds the cgroup does not give: open files, file size, no core dumps
   * (a core would be written by the kernel as the crashing process, into the learner's
   * layer, and core_pattern pipes run on the host). */
  struct {
    int resource;
    rlim_t value;
    const char *name;
  } limits[] = {
      {RLIMIT_NOFILE, 1024, "RLIMIT_NOFILE"},
      {RLIMIT_FSIZE, (rlim_t)1 << 30, "RLIMIT_FSIZE"},
      {RLIMIT_CORE, 0, "RLIMIT_CORE"},
  };
  for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
    struct rlimit rl = {limits[i].value, limits[i].value};
    if (setrlimit(limits[i].resource, &rl) < 0) die_errno("setrlimit %s", limits[i].name);
  }
}

static void exec_command(void) __attribute__((noreturn));
static void exec_command(void) {
  char **env = opt.env;
  env[opt.env_count] = NULL;
  /* PATH lookup uses the sandbox's PATH from the allow-listed environment. */
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (int i = 0; i < opt.env_count; i++)
    if (strncmp(env[i], "PATH=", 5) == 0) path = env[i] + 5;
  const char *cmd = opt.argv[0];
  int err = ENOENT;
  if (strchr(cmd, '/')) {
    execve(cmd, opt.argv, env);
    err = errno;
  } else {
    char candidate[PATH_MAX];
    const char *p = path;
    while (*p) {
      const char *end = strchrnul(p, ':');
      int n = snprintf(candidate, sizeof candidate, "%.*s/%s", (int)(end - p), p, cmd);
      if (n > 0 && n < (int)sizeof candidate) {
        execve(candidate, opt.argv, env);
        if (errno != ENOENT && errno != ENOTDIR) err = errno;
      }
      p = *end ? end + 1 : end;
    }
  }
  dprintf(STDERR_FILENO, "nslab: %s: %s\r\n", cmd, strerror(err));
  report("exec-failed", cmd);
  _exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

static int child_main(int sync_fd) {
  char go;
  /* If the launcher dies, the sandbox dies: as pid 1 of its namespace, its death takes every
   * process of the sandbox with it. Set before waiting, so there is no window. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_errno("prctl PR_SET_PDEATHSIG");
  /* Until the parent says "go", this process has no uid in its namespace and no cgroup; an
   * EOF instead means the parent failed and has said why. */
  if (read(sync_fd, &go, 1) != 1) _exit(EXIT_LAUNCHER);

  /* Become the namespace's root: host uid/gid uid_base from here on, never host root. */
  if (setresgid(0, 0, 0) < 0) die_errno("setresgid 0");
  if (setresuid(0, 0, 0) < 0) die_errno("setresuid 0");
  /* Changing credentials clears the parent-death signal (credentials(7)): set it again, then
   * make sure the launcher did not die in between. It keeps its end of the socket open for
   * as long as it lives, so a closed socket here means it is gone. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_errno("prctl PR_SET_PDEATHSIG");
  char probe;
  if (recv(sync_fd, &probe, 1, MSG_DONTWAIT | MSG_PEEK) == 0) _exit(EXIT_LAUNCHER);
  close(sync_fd);
  report("identity", NULL);

  /* The cgroup namespace is created now, after the parent moved us into the session cgroup,
   * so that the session cgroup is what the learner sees as the root of the hierarchy. */
  if (unshare(CLONE_NEWNS | CLONE_NEWCGROUP) < 0) die_errno("unshare mount+cgroup namespaces");
  /* Nothing mounted from here on may propagate back out. */
  mount_or_die(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

  char root[PATH_MAX], path[PATH_MAX], data[96];
  path_join(root, opt.mount_dir, "root");
  /* The overlay was mounted by the parent, so in this less privileged namespace its copy is
   * locked, and pivot_root refuses a locked new root. A bind of it made here is ours; it is
   * recursive so that it carries the parent's /sys along, still locked (mnt_sysfs). */
  mount_or_die(root, root, NULL, MS_BIND | MS_REC, NULL);
  path_join(path, root, "proc");
  mount_or_die("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mnt_cgroupfs(root);
  mnt_dev(root);
  /* On a disk layer /tmp is the image's own directory, in the writable layer, so what is put
   * there counts against the layer's size on disk. On a tmpfs layer it has a tmpfs of its own. */
  if (!opt.layer_image && opt.layer_fd < 0) {
    path_join(path, root, "tmp");
    snprintf(data, sizeof data, "size=%" PRIu64 ",nr_inodes=65536,mode=1777", opt.tmp_bytes);
    mount_or_die("nslab-tmp", path, "tmpfs", MS_NOSUID | MS_NODEV, data);
  }
  report("mounts", NULL);

  if (sethostname(opt.hostname, strlen(opt.hostname)) < 0) die_errno("sethostname");
  net_loopback_up();
  report("uts-net", NULL);

  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no path
   * back to the host tree and nothing of it in /proc/self/mountinfo (pivot_root(2)). */
  if (chdir(root) < 0) die_errno("chdir %s", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die_errno("pivot_root %s", root);
  if (umount2(".", MNT_DETACH) < 0) die_errno("detach old root");
  if (chdir("/") < 0) die_errno("chdir /");
  report("pivot-root", NULL);

  caps_drop_bounding_set();
  set_rlimits();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_errno("prctl PR_SET_NO_NEW_PRIVS");
  if (chdir(opt.cwd) < 0 && chdir("/") < 0) die_errno("chdir %s", opt.cwd);
  sec_install_filter(die_errno);
  report("exec", opt.argv[0]);
  exec_command();
}

/* ---------------------------------------------------------------------------------------- */
/* Parent: the launcher process itself                                                      */

int main(int argc, char **argv) {
  uint64_t start = now_ns();
  parse_args(argc, argv);
  if (geteuid() != 0) die("must run as root (it creates namespaces and cgroups for others)");
  /* The launcher lives no longer than whoever started it (the server, or nslab run): its
   * death then ends the sandbox too (the child's own parent-death signal, below). The check
   * after the prctl catches a parent that died before it. */
  pid_t starter = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_errno("prctl PR_SET_PDEATHSIG");
  if (getppid() != starter) die("the process that started the launcher has already exited");

  /* Only 0, 1 and 2 survive, the report pipe as 3 and a prepared layer as 4, close-on-exec so
   * the command never holds them: a leaked host fd is a path out (CVE-2024-21626). Anything but
   * a pipe or a socket as the report descriptor is refused, so no file or directory of the host
   * can pass as one. */
  /* The layer's descriptor out of the way first (the report's may be moved onto its number),
   * then at LAYER_FD: a directory, checked for what it is in mnt_prepared_layer. */
  int layer = -1;
  if (opt.layer_fd >= 0) {
    struct stat st;
    if (fstat(opt.layer_fd, &st) < 0) die_errno("--layer-fd %d", opt.layer_fd);
    if (!S_ISDIR(st.st_mode)) die("--layer-fd %d is not a mounted layer's root directory", opt.layer_fd);
    layer = fcntl(opt.layer_fd, F_DUPFD_CLOEXEC, LAYER_FD + 1);
    if (layer < 0) die_errno("fcntl F_DUPFD_CLOEXEC --layer-fd %d", opt.layer_fd);
  }
  if (opt.status_fd >= 0) {
    struct stat st;
    if (fstat(opt.status_fd, &st) < 0) die_errno("--status-fd %d", opt.status_fd);
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) die("--status-fd %d is not a pipe", opt.status_fd);
    if (opt.status_fd != 3) {
      if (dup3(opt.status_fd, 3, O_CLOEXEC) < 0) die_errno("dup3 --status-fd %d", opt.status_fd);
    } else if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
      die_errno("fcntl --status-fd 3");
    }
    status_fd = 3;
  }
  if (layer >= 0) {
    if (dup3(layer, LAYER_FD, O_CLOEXEC) < 0) die_errno("dup3 --layer-fd %d", opt.layer_fd);
    if (status_fd < 0 && syscall(SYS_close_range, 3, 3, 0) < 0) die_errno("close_range");
  }
  if (syscall(SYS_close_range, layer >= 0 ? LAYER_FD + 1 : status_fd < 0 ? 3 : 4, ~0U, 0) < 0) die_errno("close_range");
  if (status_fd >= 0) {
    char t[32];
    snprintf(t, sizeof t, "%" PRIu64, start);
    report("start", t);
  }
  /* The caller's stdin, stdout and stderr reach the command as they are. A directory among
   * them would be a way into the host's tree from inside (/proc/self/fd/0/..., the kind of
   * leaked directory CVE-2024-21626 exploited as a working directory): refuse it. */
  for (int fd = 0; fd <= 2; fd++) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
      if (errno == EBADF) continue; /* closed: nothing to leak */
      die_errno("fstat descriptor %d", fd);
    }
    if (S_ISDIR(st.st_mode))
      die("descriptor %d (stdin, stdout or stderr) is a directory; it would lead into the host's file tree", fd);
  }
  /* Non-dumpable: nothing in a sandbox can ptrace us or open our /proc/<pid>/exe or memory
   * (CVE-2016-9962, CVE-2019-5736). The child inherits this until exec. */
  if (prctl(PR_SET_DUMPABLE, 0) < 0) die_errno("prctl PR_SET_DUMPABLE");
  if (setgroups(0, NULL) < 0) die_errno("setgroups"); /* host root's groups stay outside */

  if (unshare(CLONE_NEWNS) < 0) die_errno("unshare mount namespace");
  mount_or_die(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  open_checked_dirs();
  mnt_writable_layer();
  report("layer", NULL);

  int sync[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0) die_errno("socketpair");
  pid_t child = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
                                              CLONE_NEWIPC | SIGCHLD,
                               NULL, NULL, NULL, NULL);
  if (child < 0) die_errno("clone with new user, pid, net, uts, ipc namespaces");
  if (child == 0) {
    close(sync[0]);
    close_checked_dirs(); /* host directories: the child has no use for them */
    return child_main(sync[1]);
  }
  close(sync[1]);
  char child_pid[16];
  snprintf(child_pid, sizeof child_pid, "%d", child);
  report("clone", child_pid);

  ns_write_maps(child);
  report("uid-map", NULL);
  mnt_idmapped_image(child);
  mnt_overlay_root();
  mnt_sysfs(child);
  report("overlay", NULL);
  cg_join(child);
  report("cgroup", NULL);
  /* The signals passed on, and SIGCHLD, are blocked from here on and read from a signalfd, as
   * bubblewrap's monitor does: one that lands at any moment stays pending until the loop reads
   * it. A handler that only set a flag could fire between the flag's check and waitpid(), and
   * the signal was then lost until the command exited by itself. Blocked before "go", so the
   * command cannot exit before SIGCHLD is watched; one sent before this still has its default
   * action, which ends the launcher and with it the sandbox (the child's parent-death signal). */
  const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  sigset_t watched;
  sigemptyset(&watched);
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaddset(&watched, forwarded[i]);
  sigaddset(&watched, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &watched, NULL) < 0) die_errno("sigprocmask");
  int signals = signalfd(-1, &watched, SFD_CLOEXEC);
  if (signals < 0) die_errno("signalfd");
  if (write(sync[0], "g", 1) != 1) die_errno("start the sandbox");

  int status;
  for (;;) {
    /* Reaped first, then waited for: an exit that comes after this look leaves SIGCHLD pending. */
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) die_errno("waitpid");
    struct signalfd_siginfo si;
    ssize_t n = read(signals, &si, sizeof si);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof si) die_errno("read the signalfd");
    int sig = (int)si.ssi_signo;
    if (sig == SIGCHLD) continue;
    if (sig == SIGHUP || sig == SIGTERM) {
      /* The terminal is gone or the server ends the session: the sandbox ends with it. As
       * pid 1 of its namespace the child would ignore signals it has no handler for. */
      kill(child, SIGKILL);
    } else {
      kill(child, sig);
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_LAUNCHER;
}
