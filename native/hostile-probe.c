/*
 * hostile-probe — what a learner would run if the sandbox had a compiler: the system calls and
 * the resource bombs that the image's own tools cannot make. Used by native/hostile.test.ts only:
 * built statically on the host, piped into a sandbox on stdin and run from its /tmp.
 *
 * Every probe is harmless if the sandbox were to allow it (nothing is written outside the
 * sandbox's own files, no clock is moved, no module or kernel is loaded), so a hole shows as a
 * failed assertion, never as a damaged host. One line per result, "what: answer", where the
 * answer is "ok" or strerror(errno), so the test can assert the exact text.
 *
 * Usage: hostile-probe syscalls | threads | forks | listen PORT SECONDS | connect ADDR PORT
 *                      | sockbufs tcp|udp PAIRS | ptys COUNT | netlink
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sock_diag.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

static void answer(const char *what, long rc) {
  if (rc < 0) printf("%s: %s\n", what, strerror(errno));
  else printf("%s: ok\n", what);
  fflush(stdout);
}

/* A socket's answer; the socket itself is closed again at once. */
static void try_socket(const char *what, int family, int type, int protocol) {
  int fd = socket(family, type, protocol);
  answer(what, fd);
  if (fd >= 0) close(fd);
}

static int probe_syscalls(void) {
  union bpf_attr map;
  memset(&map, 0, sizeof map);
  map.map_type = BPF_MAP_TYPE_ARRAY;
  map.key_size = 4;
  map.value_size = 4;
  map.max_entries = 1;
  answer("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &map, sizeof map));

  struct perf_event_attr perf;
  memset(&perf, 0, sizeof perf);
  perf.size = sizeof perf;
  perf.type = PERF_TYPE_SOFTWARE;
  perf.config = PERF_COUNT_SW_CPU_CLOCK;
  perf.disabled = 1;
  answer("perf_event_open", syscall(SYS_perf_event_open, &perf, 0, -1, -1, 0));

  struct io_uring_params uring;
  memset(&uring, 0, sizeof uring);
  answer("io_uring_setup", syscall(SYS_io_uring_setup, 1, &uring));

  answer("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  answer("add_key", syscall(SYS_add_key, "user", "nslab-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
  answer("request_key", syscall(SYS_request_key, "user", "nslab-probe-none", NULL, 0));
  answer("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));

  answer("init_module", syscall(SYS_init_module, NULL, 0, ""));
  answer("finit_module", syscall(SYS_finit_module, -1, "", 0));
  answer("delete_module", syscall(SYS_delete_module, "nslab_probe_none", O_NONBLOCK));
  /* An unknown flag: a caller allowed to load a kernel would get EINVAL, not a new kernel. */
  answer("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x8000));
  answer("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));

  struct {
    unsigned int bytes;
    int type;
    unsigned char data[64];
  } handle = {.bytes = 64};
  int mount_id = 0;
  answer("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &handle, &mount_id, 0));
  answer("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY));

  answer("syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
  answer("swapon", syscall(SYS_swapon, "/nslab-probe-none", 0));
  answer("acct", syscall(SYS_acct, "/nslab-probe-none/acct"));

  /* An unknown command: the capability is checked first, so EPERM means "not allowed" and
   * EINVAL would mean "allowed, but no such command" — nothing reboots either way. */
  answer("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0x4e534c42, NULL));

  /* Setting the time zone the kernel already has, and the tick length it already has. */
  struct timezone tz;
  struct timeval tv;
  gettimeofday(&tv, &tz);
  answer("settimeofday", settimeofday(NULL, &tz));
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  adjtimex(&tx);
  tx.modes = ADJ_TICK;
  answer("adjtimex", adjtimex(&tx));

  answer("mknod block device", mknod("/tmp/nslab-probe-sda", S_IFBLK | 0600, makedev(8, 0)));
  answer("mknod char device", mknod("/tmp/nslab-probe-mem", S_IFCHR | 0600, makedev(1, 1)));

  /* Standard input is a pipe: a kernel that let these through would answer ENOTTY. */
  char c = 'x';
  answer("ioctl TIOCSTI", ioctl(0, TIOCSTI, &c));
  int ldisc = 0;
  answer("ioctl TIOCSETD", ioctl(0, TIOCSETD, &ldisc));

  answer("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
#if defined(__x86_64__)
  /* The x32 ABI's getpid: a foreign ABI's numbers would slip past a list of x86-64 numbers. */
  answer("x32 getpid", syscall(0x40000000 | SYS_getpid));
#endif

  try_socket("socket AF_PACKET", AF_PACKET, SOCK_RAW, htons(3 /* ETH_P_ALL */));
  try_socket("socket AF_INET SOCK_RAW", AF_INET, SOCK_RAW, IPPROTO_ICMP);
  try_socket("socket AF_INET6 SOCK_RAW", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  try_socket("socket AF_INET SOCK_PACKET", AF_INET, SOCK_PACKET, htons(3));
  try_socket("socket AF_VSOCK", AF_VSOCK, SOCK_STREAM, 0);
  try_socket("socket AF_ALG", AF_ALG, SOCK_SEQPACKET, 0);
  try_socket("socket NETLINK_NETFILTER", AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  try_socket("socket NETLINK_ROUTE", AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  try_socket("socket AF_INET SOCK_STREAM", AF_INET, SOCK_STREAM, 0);
  try_socket("socket AF_INET6 SOCK_DGRAM", AF_INET6, SOCK_DGRAM, 0);
  try_socket("socket AF_UNIX", AF_UNIX, SOCK_STREAM, 0);
  return 0;
}

static void *park(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

/* Threads until the pids controller says no. Small stacks, so memory is not what runs out. */
static int probe_threads(void) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int started = 0, err = 0;
  for (; started < 100000; started++) {
    pthread_t t;
    err = pthread_create(&t, &attr, park, NULL);
    if (err) break;
  }
  printf("threads: started %d; pthread_create: %s\n", started, err ? strerror(err) : "ok");
  fflush(stdout);
  return 0;
}

/* Children that sleep forever until fork fails, then a few more tries; the children are left
 * behind on purpose, for the teardown to find. */
static int probe_forks(void) {
  int started = 0, err = 0;
  for (; started < 100000; started++) {
    pid_t pid = fork();
    if (pid == 0) park(NULL);
    if (pid < 0) {
      err = errno;
      break;
    }
  }
  int failed = 0;
  for (int i = 0; i < 5; i++) {
    pid_t pid = fork();
    if (pid == 0) park(NULL);
    if (pid < 0) failed++;
  }
  printf("forks: started %d; fork: %s; %d of 5 more failed\n", started, err ? strerror(err) : "ok", failed);
  fflush(stdout);
  return 0;
}

static socklen_t abstract_address(struct sockaddr_un *sun, int port) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  int n = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, "nslab-probe-%d", port);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* A TCP port on the sandbox's loopback and an abstract unix socket, what another learner would
 * try to reach; counts the connections that arrive within SECONDS. */
static int probe_listen(int port, int seconds) {
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(tcp, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(tcp, 4) < 0) {
    answer("listen tcp", -1);
    return 1;
  }
  int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun;
  socklen_t len = abstract_address(&sun, port);
  if (bind(unix_fd, (struct sockaddr *)&sun, len) < 0 || listen(unix_fd, 4) < 0) {
    answer("listen unix", -1);
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  int accepted[2] = {0, 0};
  struct timespec end, now;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += seconds;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left_ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
    if (left_ms <= 0) break;
    struct pollfd fds[2] = {{.fd = tcp, .events = POLLIN}, {.fd = unix_fd, .events = POLLIN}};
    if (poll(fds, 2, (int)left_ms) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      int conn = accept(fds[i].fd, NULL, NULL);
      if (conn >= 0) {
        accepted[i]++;
        close(conn);
      }
    }
  }
  printf("accepted tcp %d unix %d\n", accepted[0], accepted[1]);
  fflush(stdout);
  return 0;
}

static int probe_connect(const char *addr, int port) {
  char what[96];
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
    fprintf(stderr, "hostile-probe: bad address %s\n", addr);
    return 2;
  }
  snprintf(what, sizeof what, "connect tcp %s:%d", addr, port);
  answer(what, connect(tcp, (struct sockaddr *)&sin, sizeof sin));
  int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun;
  socklen_t len = abstract_address(&sun, port);
  snprintf(what, sizeof what, "connect unix @nslab-probe-%d", port);
  answer(what, connect(unix_fd, (struct sockaddr *)&sun, len));
  return 0;
}

/* Non-blocking sends into a peer that never reads, at most `most` of them, until the kernel
 * refuses one (EAGAIN, ENOBUFS); the error is left in *err. A UDP sender on loopback never
 * blocks (a full receiver drops the datagram), so the caller bounds the count. */
static void fill(int fd, long most, int *err) {
  static char chunk[65000];
  for (long i = 0; i < most; i++) {
    if (send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      *err = errno;
      return;
    }
  }
}

/* What the kernel charges for a socket's queues right now: receive queue, send queue and the
 * memory it has reserved ahead (truesize, the figure tcp_mem, udp_mem and the memcg count). */
static long long held(int fd) {
  unsigned int info[SK_MEMINFO_VARS];
  socklen_t len = sizeof info;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) < 0) return 0;
  return (long long)info[SK_MEMINFO_RMEM_ALLOC] + info[SK_MEMINFO_WMEM_QUEUED] + info[SK_MEMINFO_FWD_ALLOC];
}

/* PAIRS loopback pairs of TCP connections (or UDP sockets), filled from both ends (TCP) or
 * towards a receiver that never reads (UDP), each socket asking for the largest buffers
 * SO_SNDBUF/SO_RCVBUF grant. Prints how many pairs opened, the socket memory they hold in all
 * (SO_MEMINFO), and the last error of a send or of opening a pair; the sockets stay open until
 * stdin reaches EOF, so that the caller can read the cgroup's counters meanwhile. */
static int probe_sockbufs(const char *kind, int pairs) {
  int tcp = strcmp(kind, "tcp") == 0;
  int big = 64 << 20;
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  int listener = -1;
  if (tcp) {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(listener, 64) < 0 ||
        getsockname(listener, (struct sockaddr *)&sin, &len) < 0) {
      answer("sockbufs listen", -1);
      return 1;
    }
  }
  static int fds[2 * 4096];
  if (pairs > 4096) pairs = 4096;
  int opened = 0, open_err = 0, send_err = 0;
  for (; opened < pairs; opened++) {
    int a = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0), b = -1;
    if (a < 0) {
      open_err = errno;
      break;
    }
    setsockopt(a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(a, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (tcp) {
      if (connect(a, (struct sockaddr *)&sin, sizeof sin) < 0 || (b = accept(listener, NULL, NULL)) < 0) {
        open_err = errno;
        close(a);
        break;
      }
    } else {
      struct sockaddr_in to = {.sin_family = AF_INET};
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t tl = sizeof to;
      b = socket(AF_INET, SOCK_DGRAM, 0);
      if (b < 0) {
        open_err = errno;
        close(a);
        break;
      }
      setsockopt(b, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      if (bind(b, (struct sockaddr *)&to, sizeof to) < 0 || getsockname(b, (struct sockaddr *)&to, &tl) < 0 ||
          connect(a, (struct sockaddr *)&to, sizeof to) < 0) {
        open_err = errno;
        close(a);
        close(b);
        break;
      }
    }
    setsockopt(b, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(b, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    fds[2 * opened] = a;
    fds[2 * opened + 1] = b;
    int rcvbuf = 0;
    socklen_t rl = sizeof rcvbuf;
    getsockopt(b, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl);
    /* Enough sends to fill the receiver's buffer twice over (TCP stops itself earlier). */
    long most = tcp ? LONG_MAX : 2L * rcvbuf / 65000 + 8;
    int err = 0;
    fill(a, most, &err);
    if (err) send_err = err;
    if (tcp) {
      err = 0;
      fill(b, most, &err);
      if (err) send_err = err;
    }
  }
  long long total = 0;
  for (int i = 0; i < 2 * opened; i++) total += held(fds[i]);
  printf("sockbufs %s: %d pairs; held %lld bytes; open: %s; last send: %s\n", kind, opened, total,
         open_err ? strerror(open_err) : "ok", send_err ? strerror(send_err) : "ok");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

/* Open /dev/ptmx until it fails: how many ptys this devpts instance grants. */
static int probe_ptys(int count) {
  int opened = 0, err = 0;
  for (; opened < count; opened++) {
    int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      break;
    }
  }
  printf("ptys: opened %d; open /dev/ptmx: %s\n", opened, err ? strerror(err) : "ok");
  fflush(stdout);
  return 0;
}

/* Every netlink protocol number, which the sandbox may open and which it may not. */
static int probe_netlink(void) {
  static const struct {
    int protocol;
    const char *name;
  } protocols[] = {
      {NETLINK_ROUTE, "NETLINK_ROUTE"},          {NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG"},
      {NETLINK_XFRM, "NETLINK_XFRM"},            {NETLINK_GENERIC, "NETLINK_GENERIC"},
      {NETLINK_AUDIT, "NETLINK_AUDIT"},          {NETLINK_NETFILTER, "NETLINK_NETFILTER"},
      {NETLINK_KOBJECT_UEVENT, "NETLINK_KOBJECT_UEVENT"}, {NETLINK_SELINUX, "NETLINK_SELINUX"},
      {NETLINK_CONNECTOR, "NETLINK_CONNECTOR"},  {NETLINK_FIB_LOOKUP, "NETLINK_FIB_LOOKUP"},
      {NETLINK_ISCSI, "NETLINK_ISCSI"},          {NETLINK_SCSITRANSPORT, "NETLINK_SCSITRANSPORT"},
      {NETLINK_RDMA, "NETLINK_RDMA"},            {NETLINK_CRYPTO, "NETLINK_CRYPTO"},
      {NETLINK_NFLOG, "NETLINK_NFLOG"},          {NETLINK_IP6_FW, "NETLINK_IP6_FW"},
      {NETLINK_DNRTMSG, "NETLINK_DNRTMSG"},      {NETLINK_ECRYPTFS, "NETLINK_ECRYPTFS"},
      {NETLINK_SMC, "NETLINK_SMC"},              {NETLINK_USERSOCK, "NETLINK_USERSOCK"},
      {NETLINK_FIREWALL, "NETLINK_FIREWALL"},
  };
  char what[64];
  for (size_t i = 0; i < sizeof protocols / sizeof *protocols; i++) {
    snprintf(what, sizeof what, "socket %s", protocols[i].name);
    try_socket(what, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocols[i].protocol);
  }
  /* The other doors to the same code: a datagram netlink socket, and xfrm's PF_KEY. */
  try_socket("socket NETLINK_XFRM SOCK_DGRAM", AF_NETLINK, SOCK_DGRAM, NETLINK_XFRM);
  try_socket("socket AF_KEY", 15 /* PF_KEY */, SOCK_RAW, 2 /* PF_KEY_V2 */);
  try_socket("socket NETLINK protocol 31", AF_NETLINK, SOCK_RAW, 31);
  int sv[2];
  answer("socketpair AF_NETLINK NETLINK_XFRM", socketpair(AF_NETLINK, SOCK_RAW, NETLINK_XFRM, sv));
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "syscalls") == 0) return probe_syscalls();
  if (strcmp(mode, "threads") == 0) return probe_threads();
  if (strcmp(mode, "forks") == 0) return probe_forks();
  if (strcmp(mode, "listen") == 0 && argc == 4) return probe_listen(atoi(argv[2]), atoi(argv[3]));
  if (strcmp(mode, "connect") == 0 && argc == 4) return probe_connect(argv[2], atoi(argv[3]));
  if (strcmp(mode, "sockbufs") == 0 && argc == 4) return probe_sockbufs(argv[2], atoi(argv[3]));
  if (strcmp(mode, "ptys") == 0 && argc == 3) return probe_ptys(atoi(argv[2]));
  if (strcmp(mode, "netlink") == 0) return probe_netlink();
  fprintf(stderr, "usage: hostile-probe syscalls | threads | forks | listen PORT SECONDS | connect ADDR PORT\n"
                  "                     | sockbufs tcp|udp PAIRS | ptys COUNT | netlink\n");
  return 2;
}
