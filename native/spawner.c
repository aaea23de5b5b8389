/*
 * nslab-spawner — start each learner's launcher in a new terminal for the nslab server, so that
 * the server never forks itself.
 *
 * Why it exists: fork(2) copies the page tables of the process that forks, and node-pty's
 * forkpty (like libuv's spawn) forks the whole server on its only event loop thread: 10-22 ms
 * of every open terminal's time per session start with a 200 MB server, more as it grows. The
 * server starts this small helper once, while it is itself still small, and asks it for every
 * terminal instead; each fork here copies a few hundred kilobytes.
 *
 * Privileges: those of the server (host root for the lab), which the launcher needs. It makes
 * no namespace, executes only the file the server names, and mounts one kind of thing: a
 * session's layer image, as a detached mount that is in no mount namespace of the host (the
 * `layer` request), so that a sandbox prepared ahead has its filesystem before its start.
 *
 * Inputs:  argv: --parent-pid PID, the server's pid (to notice a server that died before the
 *          parent-death signal was armed). Descriptor 3: a SOCK_SEQPACKET unix socket to the
 *          server, one request per packet; a spawn request carries the launcher's status-pipe
 *          end, and a layer mounted ahead, with SCM_RIGHTS. Descriptor 0 is /dev/null.
 * Outputs: replies on descriptor 3, one per packet, a new terminal's master attached with
 *          SCM_RIGHTS; after each reply a "\n" on descriptor 1, the doorbell: the server reads
 *          that pipe as an ordinary stream and only then drains the socket, without blocking.
 *          One line per problem on descriptor 2, which the server logs.
 *          Exit status 0 when the server closes its end of the socket, 1 on a broken
 *          invariant (bad argv, a failed poll), 2 when the server is already gone at start.
 *
 * Messages are fields, each a NUL-terminated string, the first naming the message; numbers are
 * decimal without sign or leading zeros. The server's side is server/sandbox/spawner.ts.
 *   spawn ID COLS ROWS STATUS-FD LAYER-FD FILE ARGC ARG... ENVC KEY=VALUE...
 *         STATUS-FD and LAYER-FD are "-" or the descriptor number (3..1023) at which the child
 *         gets a descriptor attached to the request: the status pipe (a pipe or a socket), then
 *         a layer from `layer-made` (the root of a mounted ext4); FILE an absolute path, run
 *         with ARG... as argv.
 *   kill ID SIGNAL
 *   layer ID IMAGE
 *         IMAGE, a session's ext4 image (a regular file of root's, mode 0600), attached to a
 *         free loop device and mounted, detached (fsmount), with the layer's directories
 *         (native/layer.h) made in it: see layer_mount.
 * Replies:
 *   ready VERSION                  once, at start
 *   spawned ID PID                 + the terminal's master
 *   spawn-failed ID MESSAGE        nothing was left running
 *   exited ID exit|signal N        the child was reaped; ID is free again
 *   signalled ID sent|gone         answer to kill; "gone": already reaped, nothing signalled
 *   layer-made ID                  + the mount's root directory; the loop device detaches
 *                                  itself once the last holder of the mount closes it
 *   layer-failed ID MESSAGE        nothing was left attached or mounted
 *   refused ID|- MESSAGE           a malformed request: a bug in the server, reported, ignored
 * A request is acted on only once every field has been checked; a malformed one changes
 * nothing, so no running child is ever harmed by one.
 *
 * Each child, between fork and exec: default signal dispositions and an empty mask, a
 * parent-death signal towards this helper, a new session with the terminal as its
 * controlling terminal and as 0, 1 and 2, the status pipe and the layer at the numbers the
 * launcher is told, every other descriptor closed, "/" as working directory, and only the
 * environment given.
 * The launcher arms its own parent-death signal again (native/launcher.c, main), so a dead
 * helper takes every launcher, and with it every sandbox, down; the server removes their
 * cgroups as for any exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "layer.h"

#define PROTOCOL_VERSION "2"
#define SERVER_FD 3
#define DOORBELL_FD STDOUT_FILENO

#define MAX_REQUEST_BYTES 65536
#define MAX_FIELD_BYTES 8192
#define MAX_ARGS 256
#define MAX_ENV 256
#define MAX_FIELDS (9 + MAX_ARGS + MAX_ENV)
/* As many as a host has uid ranges for sandboxes (server/sandbox/uid-slots.ts, MAX_SLOTS). */
#define MAX_CHILDREN 4096
#define MAX_FDS_PER_REQUEST 4
#define MAX_STATUS_FD 1023

/* What the child reports on its exec-error pipe when a step before exec fails. */
enum child_stage { STAGE_PDEATHSIG, STAGE_PARENT_GONE, STAGE_SETSID, STAGE_CTTY, STAGE_STDIO,
                   STAGE_PASSED_FDS, STAGE_CLOSE_RANGE, STAGE_CHDIR, STAGE_EXEC };
static const char *const stage_names[] = {
    "prctl PR_SET_PDEATHSIG", "the spawner exited", "setsid", "ioctl TIOCSCTTY",
    "dup2 the terminal to 0, 1 and 2", "dup2 the status pipe and the layer", "close_range", "chdir /",
    "execve",
};

struct child {
  int id; /* 0: free slot */
  pid_t pid;
};

static struct child children[MAX_CHILDREN];
static pid_t self_pid;
/* Processes mounting a layer (handle_layer), each for one request: the server asks for a few at
 * a time (the sandboxes it prepares ahead, and the starts under way). */
#define MAX_LAYER_WORKERS 16
static int layer_workers;

/* ---------------------------------------------------------------------------------------- */
/* Logging and fatal errors                                                                 */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "nslab-spawner: %s\n", msg);
}

static void kill_all_children(void) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].id) kill(children[i].pid, SIGKILL);
}

/* A broken invariant: end every child (their launchers would die with us anyway) and exit. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  say("%s", msg);
  /* In a layer worker (handle_layer), the children are the spawner's, not its own. */
  if (getpid() == self_pid) kill_all_children();
  _exit(1);
}

/* ---------------------------------------------------------------------------------------- */
/* Replies                                                                                  */

/* One reply packet, then the doorbell. The socket is blocking: the server drains it on every
 * doorbell, so a full queue empties as soon as its event loop turns. The doorbell is not:
 * if its pipe is full, bells the server has not read yet are there, and each makes it drain
 * everything queued, this reply included. */
static void reply(int pass_fd, int count, const char *const fields[]) {
  char buf[1024];
  size_t len = 0;
  for (int i = 0; i < count; i++) {
    size_t n = strlen(fields[i]);
    /* Only the MESSAGE of spawn-failed and refused is of variable length; cut it to fit. */
    if (len + n + 1 > sizeof buf) n = sizeof buf - len - 1;
    memcpy(buf + len, fields[i], n);
    len += n;
    buf[len++] = 0;
  }
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  union {
    char space[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (pass_fd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
  }
  for (;;) {
    if (sendmsg(SERVER_FD, &msg, MSG_NOSIGNAL) >= 0) break;
    if (errno == EINTR) continue;
    /* EPIPE/ECONNRESET: the server is gone, and so is every reason to keep children. */
    die("send %s to the server: %s", fields[0], strerror(errno));
  }
  for (;;) {
    if (write(DOORBELL_FD, "\n", 1) >= 0 || errno == EAGAIN) break;
    if (errno == EINTR) continue;
    die("ring the doorbell: %s", strerror(errno));
  }
}

static void reply_refused(const char *id, const char *why) {
  say("refused a request: %s", why);
  reply(-1, 3, (const char *const[]){"refused", id ? id : "-", why});
}

/* ---------------------------------------------------------------------------------------- */
/* Request parsing: every field is checked before anything is done.                         */

struct fields {
  const char *f[MAX_FIELDS];
  int n;
};

/* Split a packet into its NUL-terminated fields; NULL, or why the packet is not well formed. */
static const char *split_fields(const char *buf, size_t len, struct fields *out) {
  out->n = 0;
  if (len == 0) return "an empty packet";
  if (buf[len - 1] != 0) return "the last field is not NUL-terminated";
  for (size_t start = 0; start < len;) {
    size_t n = strlen(buf + start);
    if (n > MAX_FIELD_BYTES) return "a field longer than 8192 bytes";
    if (out->n == MAX_FIELDS) return "too many fields";
    out->f[out->n++] = buf + start;
    start += n + 1;
  }
  return NULL;
}

/* A decimal number in [min, max], no sign, no leading zeros, nothing else. */
static bool parse_number(const char *s, long min, long max, long *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 10 || (s[0] == '0' && n > 1)) return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

static struct child *find_child(int id) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].id == id) return &children[i];
  return NULL;
}

static struct child *free_slot(void) { return find_child(0); }

/* ---------------------------------------------------------------------------------------- */
/* The terminal                                                                             */

/* The terminal settings node-pty gives a new terminal on Linux (node-pty src/unix/pty.cc,
 * PtyFork), so a shell started here behaves as one started by node-pty: canonical mode with
 * echo, ^C, ^\ and ^Z as signals, DEL as erase, CR to NL in, NL to CR NL out. IUTF8 too:
 * node-pty sets it for UTF-8 terminals only, and the learner's is one (xterm.js, LANG=C.UTF-8),
 * so erasing a character in canonical mode erases all of its bytes. */
static void term_default_settings(struct termios *t) {
  memset(t, 0, sizeof *t);
  t->c_iflag = ICRNL | IXON | IXANY | IMAXBEL | BRKINT | IUTF8;
  t->c_oflag = OPOST | ONLCR;
  t->c_cflag = CREAD | CS8 | HUPCL;
  t->c_lflag = ICANON | ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHOKE | ECHOCTL;
  t->c_cc[VEOF] = 4;
  /* node-pty writes -1 here, BSD's "disabled"; Linux's is 0 (_POSIX_VDISABLE), as `stty sane`
   * sets, so a 0xff byte typed is not an end of line. */
  t->c_cc[VEOL] = _POSIX_VDISABLE;
  t->c_cc[VEOL2] = _POSIX_VDISABLE;
  t->c_cc[VERASE] = 0x7f;
  t->c_cc[VWERASE] = 23;
  t->c_cc[VKILL] = 21;
  t->c_cc[VREPRINT] = 18;
  t->c_cc[VINTR] = 3;
  t->c_cc[VQUIT] = 0x1c;
  t->c_cc[VSUSP] = 26;
  t->c_cc[VSTART] = 17;
  t->c_cc[VSTOP] = 19;
  t->c_cc[VLNEXT] = 22;
  t->c_cc[VDISCARD] = 15;
  t->c_cc[VMIN] = 1;
  t->c_cc[VTIME] = 0;
  cfsetispeed(t, B38400);
  cfsetospeed(t, B38400);
}

/* A new terminal: its master (non-blocking, as node-pty hands it over) and its slave, both
 * close-on-exec, with the settings above and the window size. NULL, or the failing call. */
static const char *term_open(unsigned short cols, unsigned short rows, int *master_out, int *slave_out) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return "posix_openpt";
  const char *failed = NULL;
  int slave = -1;
  if (grantpt(master) < 0) failed = "grantpt";
  else if (unlockpt(master) < 0) failed = "unlockpt";
  if (!failed) {
    /* The slave of this very master, not whatever /dev/pts/N names in our mount namespace
     * (ioctl_tty(2), TIOCGPTPEER, Linux 4.13); the path is the fallback for older kernels. */
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) {
      char name[64];
      if (ptsname_r(master, name, sizeof name) == 0) slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (slave < 0) failed = "open the terminal's slave";
  }
  struct termios settings;
  term_default_settings(&settings);
  struct winsize size = {.ws_row = rows, .ws_col = cols};
  if (!failed && tcsetattr(slave, TCSANOW, &settings) < 0) failed = "tcsetattr";
  if (!failed && ioctl(master, TIOCSWINSZ, &size) < 0) failed = "ioctl TIOCSWINSZ";
  if (!failed) {
    int flags = fcntl(master, F_GETFL);
    if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) < 0) failed = "fcntl O_NONBLOCK";
  }
  if (failed) {
    int saved = errno;
    if (slave >= 0) close(slave);
    close(master);
    errno = saved;
    return failed;
  }
  *master_out = master;
  *slave_out = slave;
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The child, between fork and exec                                                         */

/* Close every descriptor from 3 up but the three in `keep` (any may be -1). */
static bool close_others(int keep[3]) {
  for (int i = 1; i < 3; i++) /* sorted, by insertion */
    for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  int low = 3;
  for (int i = 0; i < 3; i++) {
    if (keep[i] < low) continue;
    if (keep[i] > low && syscall(SYS_close_range, (unsigned)low, (unsigned)keep[i] - 1, 0) < 0) return false;
    low = keep[i] + 1;
  }
  return syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0;
}

/* The descriptor `fd` at number `target` in this (child) process, inherited through exec: dup2
 * clears close-on-exec on the copy, and one already at that number needs it cleared. */
static bool place_fd(int fd, int target) {
  if (fd == target) return fcntl(fd, F_SETFD, 0) == 0;
  return dup2(fd, target) >= 0;
}

struct child_failure {
  int stage;
  int err;
};

static void child_fail(int error_fd, enum child_stage stage) __attribute__((noreturn));
static void child_fail(int error_fd, enum child_stage stage) {
  struct child_failure failure = {.stage = stage, .err = errno};
  if (write(error_fd, &failure, sizeof failure) < 0) {
    /* The spawner then sees the pipe close without a report and says so. */
  }
  _exit(127);
}

/* A descriptor of the request and the number the child gets it at (fd -1: none). */
struct passed_fd {
  int fd;
  int target;
};

static void child_exec(int slave, struct passed_fd status, struct passed_fd layer, int error_fd, const char *file,
                       char *const argv[], char *const envp[]) __attribute__((noreturn));
static void child_exec(int slave, struct passed_fd status, struct passed_fd layer, int error_fd, const char *file,
                       char *const argv[], char *const envp[]) {
  /* Nothing of this helper's signal handling reaches the launcher: SIGCHLD is blocked here
   * (for the signalfd) and SIGPIPE ignored, and both would be inherited through exec. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL); /* EINVAL for KILL/STOP: fine */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  /* Die with this helper, armed before anything else. The launcher sets its own again
   * (towards us, then), but between here and its prctl a dead helper would otherwise leave
   * it running, reparented; the getppid() check catches a helper that died before the prctl. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(error_fd, STAGE_PDEATHSIG);
  if (getppid() != self_pid) child_fail(error_fd, STAGE_PARENT_GONE);

  /* A session of its own with the new terminal as its controlling terminal (what forkpty's
   * login_tty does): the learner's job control, ^C and hangup stay in this terminal. */
  if (setsid() < 0) child_fail(error_fd, STAGE_SETSID);
  if (ioctl(slave, TIOCSCTTY, 0) < 0) child_fail(error_fd, STAGE_CTTY);
  for (int fd = 0; fd <= 2; fd++)
    if (dup2(slave, fd) < 0) child_fail(error_fd, STAGE_STDIO);

  /* The status pipe and the layer at the numbers the launcher's --status-fd and --layer-fd
   * name. What sits at a target before its turn is moved up first: the error pipe (at
   * either), and the layer at the status pipe's number (placed first). */
  int above = (status.target > layer.target ? status.target : layer.target) + 1;
  if (error_fd == status.target || error_fd == layer.target) {
    int moved = fcntl(error_fd, F_DUPFD_CLOEXEC, above);
    if (moved < 0) child_fail(error_fd, STAGE_PASSED_FDS);
    error_fd = moved;
  }
  if (layer.fd >= 0 && layer.fd == status.target) {
    layer.fd = fcntl(layer.fd, F_DUPFD_CLOEXEC, above);
    if (layer.fd < 0) child_fail(error_fd, STAGE_PASSED_FDS);
  }
  if (status.fd >= 0 && !place_fd(status.fd, status.target)) child_fail(error_fd, STAGE_PASSED_FDS);
  if (layer.fd >= 0 && !place_fd(layer.fd, layer.target)) child_fail(error_fd, STAGE_PASSED_FDS);
  /* Everything else goes, explicitly rather than by trusting close-on-exec: a leaked
   * descriptor is a way out of a sandbox (CVE-2024-21626). The error pipe stays until exec
   * (close-on-exec), which is how the spawner learns the exec happened. */
  int keep[3] = {status.fd >= 0 ? status.target : -1, layer.fd >= 0 ? layer.target : -1, error_fd};
  if (!close_others(keep)) child_fail(error_fd, STAGE_CLOSE_RANGE);
  if (chdir("/") < 0) child_fail(error_fd, STAGE_CHDIR);
  execve(file, argv, envp);
  child_fail(error_fd, STAGE_EXEC);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                 */

/* The root directory of a mounted ext4 filesystem, as `layer-made` hands out: the only kind of
 * directory this helper passes to a child. It does not track which ones it made; the launcher
 * checks further that the mount is detached and the layer fresh (mnt_prepared_layer). */
static bool is_layer_mount(int fd) {
  struct statfs fs;
  struct statx st;
  return fstatfs(fd, &fs) == 0 && fs.f_type == EXT4_SUPER_MAGIC &&
         statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &st) == 0 && S_ISDIR(st.stx_mode) &&
         (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* fds: the descriptors that came with the request; this function closes every one of them. */
static void handle_spawn(const struct fields *r, int *fds, int nfds) {
  const char *id_text = r->n > 1 ? r->f[1] : "";
  long id = 0, cols, rows, target = -1, layer_target = -1, argc, envc;
  const char *why = NULL;
  if (!parse_number(id_text, 1, INT_MAX, &id)) why = "spawn: bad ID";
  else if (r->n < 9) why = "spawn: too few fields";
  else if (!parse_number(r->f[2], 1, USHRT_MAX, &cols)) why = "spawn: bad COLS";
  else if (!parse_number(r->f[3], 1, USHRT_MAX, &rows)) why = "spawn: bad ROWS";
  else if (strcmp(r->f[4], "-") != 0 && !parse_number(r->f[4], 3, MAX_STATUS_FD, &target))
    why = "spawn: bad STATUS-FD";
  else if (strcmp(r->f[5], "-") != 0 && !parse_number(r->f[5], 3, MAX_STATUS_FD, &layer_target))
    why = "spawn: bad LAYER-FD";
  else if (layer_target >= 0 && layer_target == target) why = "spawn: STATUS-FD and LAYER-FD are the same number";
  else if (r->f[6][0] != '/' || strlen(r->f[6]) >= PATH_MAX) why = "spawn: FILE must be an absolute path";
  else if (!parse_number(r->f[7], 1, MAX_ARGS, &argc)) why = "spawn: bad ARGC";
  else if (8 + argc >= r->n) why = "spawn: fewer arguments than ARGC";
  else if (!parse_number(r->f[8 + argc], 0, MAX_ENV, &envc)) why = "spawn: bad ENVC";
  else if (9 + argc + envc != r->n) why = "spawn: the field count does not match ARGC and ENVC";
  if (!why) {
    for (long i = 0; i < envc; i++) {
      const char *kv = r->f[9 + argc + i];
      if (kv[0] == '=' || !strchr(kv, '=')) {
        why = "spawn: an environment entry is not KEY=VALUE";
        break;
      }
    }
  }
  if (!why && nfds != (target >= 0) + (layer_target >= 0))
    why = "spawn: the descriptors attached are not one for each of STATUS-FD and LAYER-FD";
  if (!why && target >= 0) {
    /* The launcher refuses anything else as its report descriptor; so does this helper, so
     * no file or directory of the host is ever handed to a child as one. */
    struct stat st;
    if (fstat(fds[0], &st) < 0 || (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)))
      why = "spawn: the status descriptor is not a pipe or socket";
  }
  if (!why && layer_target >= 0 && !is_layer_mount(fds[target >= 0 ? 1 : 0]))
    why = "spawn: the layer descriptor is not the root of a mounted ext4 filesystem";
  if (!why && find_child((int)id)) why = "spawn: ID is in use";
  if (why) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    /* With the ID, the server can fail the start that is waiting for this answer. */
    reply_refused(id ? id_text : NULL, why);
    return;
  }
  int status_fd = target >= 0 ? fds[0] : -1;
  int layer_fd = layer_target >= 0 ? fds[target >= 0 ? 1 : 0] : -1;

  struct child *slot = free_slot();
  int master = -1, slave = -1;
  char message[PATH_MAX + 128];
  const char *failed_call = NULL;
  if (!slot) {
    snprintf(message, sizeof message, "the spawner already runs %d children", MAX_CHILDREN);
  } else if ((failed_call = term_open((unsigned short)cols, (unsigned short)rows, &master, &slave))) {
    snprintf(message, sizeof message, "%s: %s", failed_call, strerror(errno));
  } else {
    message[0] = 0;
  }
  if (message[0]) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    reply(-1, 3, (const char *const[]){"spawn-failed", id_text, message});
    return;
  }

  /* argv and envp point into the request buffer, which lives until the next request. */
  char *argv[MAX_ARGS + 1], *envp[MAX_ENV + 1];
  for (long i = 0; i < argc; i++) argv[i] = (char *)r->f[8 + i];
  argv[argc] = NULL;
  for (long i = 0; i < envc; i++) envp[i] = (char *)r->f[9 + argc + i];
  envp[envc] = NULL;

  /* Closes on exec: an EOF without a report means the exec happened (the libuv way of
   * telling "could not run it" from "it ran and failed"). */
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) < 0) {
    snprintf(message, sizeof message, "pipe2: %s", strerror(errno));
    close(master), close(slave);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    reply(-1, 3, (const char *const[]){"spawn-failed", id_text, message});
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(error_pipe[0]);
    close(master);
    child_exec(slave, (struct passed_fd){status_fd, (int)target}, (struct passed_fd){layer_fd, (int)layer_target},
               error_pipe[1], r->f[6], argv, envp);
  }
  int fork_errno = errno;
  close(error_pipe[1]);
  close(slave);
  for (int i = 0; i < nfds; i++) close(fds[i]);
  if (pid < 0) {
    close(error_pipe[0]);
    close(master);
    snprintf(message, sizeof message, "fork: %s", strerror(fork_errno));
    reply(-1, 3, (const char *const[]){"spawn-failed", id_text, message});
    return;
  }
  struct child_failure failure;
  ssize_t got;
  do got = read(error_pipe[0], &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (got != 0) {
    /* It never ran the file: reap it here, so no `exited` follows for an ID the server was
     * told failed. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(master);
    if (got == (ssize_t)sizeof failure && failure.stage >= 0 && failure.stage <= STAGE_EXEC)
      snprintf(message, sizeof message, "%s %s: %s", stage_names[failure.stage],
               failure.stage == STAGE_EXEC ? r->f[6] : "in the child", strerror(failure.err));
    else
      snprintf(message, sizeof message, "the child failed before exec without saying why");
    reply(-1, 3, (const char *const[]){"spawn-failed", id_text, message});
    return;
  }
  slot->id = (int)id;
  slot->pid = pid;
  char pid_text[16];
  snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
  reply(master, 3, (const char *const[]){"spawned", id_text, pid_text});
  close(master);
}

/* A session's layer mounted ahead of its start: the image (server/sandbox/layer-disk.ts) on a
 * free loop device, its ext4 mounted with fsopen/fsmount, which makes a mount of no namespace;
 * the launcher moves it into its own (native/launcher.c, mnt_prepared_layer). The same steps,
 * flags and options as the launcher's own --layer-image, which stays the way where this fails
 * (no loop device nodes in a container's /dev, a kernel before 5.2): the server then passes
 * the image instead. NULL, or the failing step, with errno set. */
static const char *layer_mount(const char *image_path, int *mount_out) {
  /* The image through a detached bind mount of the file alone, as the launcher opens it: the
   * loop device's backing_file in sysfs, which every sandbox can read, then names "/" rather
   * than the host's path and another learner's session id. */
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, image_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (tree < 0) return "open_tree IMAGE";
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", tree);
  int image = open(path, O_RDWR | O_CLOEXEC);
  int saved = errno;
  close(tree);
  if (image < 0) return errno = saved, "open IMAGE";
  const char *failed = NULL;
  int control = -1, loop = -1, context = -1;
  struct stat st;
  if (fstat(image, &st) < 0) failed = "fstat IMAGE";
  else if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0077)) errno = EPERM, failed = "IMAGE is not a regular file of root's that only root can read";
  else if ((control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) < 0) failed = "open /dev/loop-control";
  /* LOOP_CTL_GET_FREE only names a free device: another may configure it first, and then ours
   * answers EBUSY, so ask again (as losetup does). */
  for (int attempt = 0; !failed; attempt++) {
    int n = ioctl(control, LOOP_CTL_GET_FREE);
    if (n < 0) {
      failed = "ioctl LOOP_CTL_GET_FREE";
      break;
    }
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%d", n);
    if ((loop = open(dev, O_RDWR | O_CLOEXEC)) < 0) {
      failed = "open the free loop device";
      break;
    }
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (uint32_t)image;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) break;
    saved = errno;
    close(loop);
    loop = -1;
    if (saved != EBUSY || attempt == 64) {
      errno = saved;
      failed = "ioctl LOOP_CONFIGURE";
    }
  }
  if (!failed) {
    /* noinit_itable: the image is sparse, so its inode tables already read as zeros. */
    snprintf(path, sizeof path, "/proc/self/fd/%d", loop);
    if ((context = (int)syscall(SYS_fsopen, "ext4", FSOPEN_CLOEXEC)) < 0) failed = "fsopen ext4";
    else if (syscall(SYS_fsconfig, context, FSCONFIG_SET_STRING, "source", path, 0) < 0) failed = "fsconfig source";
    else if (syscall(SYS_fsconfig, context, FSCONFIG_SET_FLAG, "noinit_itable", NULL, 0) < 0) failed = "fsconfig noinit_itable";
    else if (syscall(SYS_fsconfig, context, FSCONFIG_SET_STRING, "errors", "remount-ro", 0) < 0) failed = "fsconfig errors=remount-ro";
    else if (syscall(SYS_fsconfig, context, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) failed = "mount the image's ext4";
    else if ((*mount_out = (int)syscall(SYS_fsmount, context, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
      failed = "fsmount";
  }
  /* The layer's directories, as the launcher would make them: their first writes read the
   * image's bitmaps and inode table from disk (direct I/O, milliseconds), here rather than
   * during a learner's start. */
  for (size_t i = 0; !failed && i < LAYER_DIR_COUNT; i++) {
    if (mkdirat(*mount_out, LAYER_DIRS[i], 0755) < 0) {
      failed = "mkdir the layer's directories";
      saved = errno;
      close(*mount_out);
      errno = saved;
    }
  }
  saved = errno;
  /* The mount holds the device, and the device the image: a loop device whose configuration
   * failed, or whose mount did, detaches itself as this last descriptor of it closes. */
  if (context >= 0) close(context);
  if (loop >= 0) close(loop);
  if (control >= 0) close(control);
  close(image);
  errno = saved;
  return failed;
}

static void handle_layer(const struct fields *r) {
  long id;
  bool has_id = r->n > 1 && parse_number(r->f[1], 1, INT_MAX, &id);
  const char *why = NULL;
  if (!has_id) why = "layer: bad ID";
  else if (r->n != 3) why = "layer: wants ID IMAGE";
  else if (r->f[2][0] != '/' || strlen(r->f[2]) >= PATH_MAX) why = "layer: IMAGE must be an absolute path";
  if (why) {
    /* With the ID, the server can fail the preparation that is waiting for this answer. */
    reply_refused(has_id ? r->f[1] : NULL, why);
    return;
  }
  /* In a process of its own: the mount and the layer's first writes wait for the disk for some
   * milliseconds, during which the spawns and exits of other sessions go on here. It answers on
   * the same socket (each reply one packet) and exits; the loop reaps it as one of no session. */
  if (layer_workers >= MAX_LAYER_WORKERS) {
    reply(-1, 3, (const char *const[]){"layer-failed", r->f[1], "the spawner is already mounting as many layers as it may at once"});
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    char message[256];
    snprintf(message, sizeof message, "fork: %s", strerror(errno));
    reply(-1, 3, (const char *const[]){"layer-failed", r->f[1], message});
    return;
  }
  if (pid > 0) {
    layer_workers++;
    return;
  }
  /* No longer than the spawner: a worker left mounting for a server that gave up on it (its
   * answer timed out, or the spawner died) must not go on to mount an image the server may
   * by then have handed elsewhere. The check after the prctl catches a spawner already gone. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self_pid) _exit(1);
  int mount_fd = -1;
  const char *failed = layer_mount(r->f[2], &mount_fd);
  if (failed) {
    char message[256];
    snprintf(message, sizeof message, "%s: %s", failed, strerror(errno));
    reply(-1, 3, (const char *const[]){"layer-failed", r->f[1], message});
    _exit(0);
  }
  reply(mount_fd, 2, (const char *const[]){"layer-made", r->f[1]});
  _exit(0);
}

static void handle_kill(const struct fields *r) {
  long id, sig;
  const char *why = NULL;
  if (r->n != 3) why = "kill: wants ID SIGNAL";
  else if (!parse_number(r->f[1], 1, INT_MAX, &id)) why = "kill: bad ID";
  else if (!parse_number(r->f[2], 1, SIGRTMAX, &sig)) why = "kill: bad SIGNAL";
  if (why) {
    reply_refused(NULL, why);
    return;
  }
  /* The pid is ours until we reap it, and reaping happens only in this loop: a child listed
   * here cannot have been replaced by an unrelated process with the same pid. */
  struct child *c = find_child((int)id);
  bool sent = c && kill(c->pid, (int)sig) == 0;
  reply(-1, 3, (const char *const[]){"signalled", r->f[1], sent ? "sent" : "gone"});
}

static char request[MAX_REQUEST_BYTES];

/* One packet from the server. False when the server has closed its end. `revents` is what
 * poll said: a read of 0 bytes is an empty packet unless the peer has hung up. */
static bool handle_request(short revents) {
  struct iovec iov = {.iov_base = request, .iov_len = sizeof request};
  union {
    char space[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_REQUEST)];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                       .msg_controllen = sizeof control.space};
  ssize_t n = recvmsg(SERVER_FD, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return true;
    if (errno == ECONNRESET) return false;
    die("recvmsg from the server: %s", strerror(errno));
  }
  int fds[MAX_FDS_PER_REQUEST];
  int nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < MAX_FDS_PER_REQUEST) fds[nfds++] = fd;
      else close(fd);
    }
  }
  if (n == 0 && (revents & (POLLHUP | POLLRDHUP | POLLERR))) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    return false;
  }
  const char *why = NULL;
  struct fields r;
  if (msg.msg_flags & MSG_TRUNC) why = "a request longer than 65536 bytes";
  else if (msg.msg_flags & MSG_CTRUNC) why = "more descriptors than a request may carry";
  else why = split_fields(request, (size_t)n, &r);
  if (!why && strcmp(r.f[0], "spawn") == 0) {
    handle_spawn(&r, fds, nfds);
    return true;
  }
  if (!why && strcmp(r.f[0], "kill") == 0 && nfds == 0) {
    handle_kill(&r);
    return true;
  }
  if (!why && strcmp(r.f[0], "layer") == 0 && nfds == 0) {
    handle_layer(&r);
    return true;
  }
  if (!why) why = nfds ? "descriptors attached to a request that takes none" : "an unknown request";
  for (int i = 0; i < nfds; i++) close(fds[i]);
  reply_refused(NULL, why);
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Reaping                                                                                  */

static void reap_children(int signal_fd) {
  struct signalfd_siginfo info[8];
  while (read(signal_fd, info, sizeof info) > 0) {
    /* Drained: several exits can share one SIGCHLD, so waitpid below collects them all. */
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) return;
    if (pid < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) return;
      die("waitpid: %s", strerror(errno));
    }
    struct child *c = NULL;
    for (int i = 0; i < MAX_CHILDREN && !c; i++)
      if (children[i].id && children[i].pid == pid) c = &children[i];
    if (!c) {
      /* A layer worker: it has answered, or its end (killed) leaves the request to time out. */
      if (layer_workers > 0 && (WIFEXITED(status) || WIFSIGNALED(status))) layer_workers--;
      continue;
    }
    if (!(WIFEXITED(status) || WIFSIGNALED(status))) continue;
    char id_text[16], number[16];
    snprintf(id_text, sizeof id_text, "%d", c->id);
    bool exited = WIFEXITED(status);
    snprintf(number, sizeof number, "%d", exited ? WEXITSTATUS(status) : WTERMSIG(status));
    c->id = 0;
    c->pid = 0;
    reply(-1, 4, (const char *const[]){"exited", id_text, exited ? "exit" : "signal", number});
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Start-up and the loop                                                                    */

static void ensure_open(int fd) {
  if (fcntl(fd, F_GETFD) >= 0) return;
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) die("open /dev/null: %s", strerror(errno));
  if (null_fd != fd) {
    if (dup3(null_fd, fd, O_CLOEXEC) < 0) die("dup3 /dev/null to %d: %s", fd, strerror(errno));
    close(null_fd);
  }
}

int main(int argc, char **argv) {
  long parent;
  if (argc != 3 || strcmp(argv[1], "--parent-pid") != 0 || !parse_number(argv[2], 1, INT_MAX, &parent)) {
    say("usage: nslab-spawner --parent-pid PID, with the server's socket as descriptor 3");
    return 1;
  }
  self_pid = getpid();
  /* Live no longer than the server: its death must not leave terminals and sandboxes nobody
   * reads. The check after the prctl catches a server that died before it. The signal comes
   * when the thread that started us ends, which in Node is the main thread. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die("prctl PR_SET_PDEATHSIG: %s", strerror(errno));
  if (getppid() != (pid_t)parent) {
    say("the server (pid %ld) has already exited", parent);
    return 2;
  }
  /* Out of the server's process group and session: a ^C or ^Z typed at the terminal that
   * runs the server is the server's to handle, not ours. */
  if (setsid() < 0) die("setsid: %s", strerror(errno));
  /* It holds every new terminal's master for a moment and the server's socket: nothing may
   * ptrace it or open its /proc/<pid>/fd (the launcher does the same for itself). */
  if (prctl(PR_SET_DUMPABLE, 0) < 0) die("prctl PR_SET_DUMPABLE: %s", strerror(errno));

  int type = 0;
  socklen_t type_len = sizeof type;
  if (getsockopt(SERVER_FD, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0 || type != SOCK_SEQPACKET)
    die("descriptor 3 is not the server's SOCK_SEQPACKET socket");
  ensure_open(STDIN_FILENO);
  ensure_open(STDERR_FILENO);
  if (fcntl(DOORBELL_FD, F_GETFD) < 0) die("descriptor 1 (the doorbell) is not open");
  /* Nothing else from the server may stay here, and none of ours reaches a child by exec. */
  if (syscall(SYS_close_range, SERVER_FD + 1, ~0U, 0) < 0) die("close_range: %s", strerror(errno));
  for (int fd = 0; fd <= SERVER_FD; fd++)
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) die("fcntl FD_CLOEXEC %d: %s", fd, strerror(errno));
  int bell_flags = fcntl(DOORBELL_FD, F_GETFL);
  if (bell_flags < 0 || fcntl(DOORBELL_FD, F_SETFL, bell_flags | O_NONBLOCK) < 0)
    die("fcntl O_NONBLOCK on the doorbell: %s", strerror(errno));

  /* SIGCHLD through a signalfd, so reaping happens in the loop, between requests, and never
   * interrupts one; SIGPIPE ignored, every send says MSG_NOSIGNAL anyway. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) die("sigprocmask: %s", strerror(errno));
  int signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) die("signalfd: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN);

  reply(-1, 2, (const char *const[]){"ready", PROTOCOL_VERSION});
  for (;;) {
    struct pollfd fds[2] = {{.fd = SERVER_FD, .events = POLLIN | POLLRDHUP}, {.fd = signal_fd, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    if (fds[1].revents & POLLIN) reap_children(signal_fd);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) {
      if (!handle_request(fds[0].revents)) break;
    }
  }
  /* The server closed its end: it is shutting down or gone. Its sandboxes end now rather
   * than when each launcher notices (their parent-death signal would do it as we exit). */
  kill_all_children();
  return 0;
}
