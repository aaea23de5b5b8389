/*
 * seccomp.h — the system calls a learner's sandbox never needs, denied with EPERM.
 *
 * A deny list, not an allow list: the course itself uses unshare, setns, mount, pivot_root and
 * clone with namespace flags inside the sandbox, which Docker's default profile forbids. What
 * is denied here is what no lesson uses and what has a history of kernel bugs reachable from
 * a user namespace, or reaches state outside the sandbox (SECURITY.md):
 *   io_uring, keyrings, userfaultfd, bpf, perf_event_open, kexec, kernel modules,
 *   open_by_handle_at (the "shocker" escape), the kernel log, swap, accounting, quotas, NUMA
 *   page moves, TIOCSTI/TIOCLINUX on ttys (CVE-2017-5226) and tty line disciplines
 *   (CVE-2017-2636 n_hdlc, CVE-2023-6546 n_gsm), every socket family but unix, inet, inet6 and
 *   netlink (packet sockets sniff, vsock talks to the hypervisor past the sandbox's
 *   loopback-only network, and the rest — alg, tipc, rds, kcm, … — is exploit surface no
 *   lesson needs), raw inet sockets, netfilter's netlink (nf_tables: CVE-2022-1015,
 *   CVE-2023-32233, CVE-2024-1086), and every syscall of a foreign ABI (x32, i386), whose
 *   numbers would slip past this list.
 * The file-system context calls (fsopen, fsconfig, fsmount, fspick; CVE-2022-0185) answer
 * ENOSYS rather than EPERM, so that libmount falls back to mount(2), which the lessons use.
 * Installed as the last step before exec, after no_new_privs, as bubblewrap and nsjail do.
 */
#ifndef NSLAB_SECCOMP_H
#define NSLAB_SECCOMP_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SEC_AUDIT_ARCH AUDIT_ARCH_X86_64
#define SEC_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define SEC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define SEC_X32_BIT 0u
#else
#error "nslab-launcher: add the audit arch of this CPU to seccomp.h"
#endif

#define SEC_DENY (SECCOMP_RET_ERRNO | (1 /* EPERM */ & SECCOMP_RET_DATA))
#define SEC_NOSYS (SECCOMP_RET_ERRNO | (38 /* ENOSYS */ & SECCOMP_RET_DATA))
#define SEC_LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define SEC_LOAD_ARG_LO(n) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[n]))
#define SEC_DENY_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SEC_DENY)
#define SEC_NOSYS_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SEC_NOSYS)
#define SEC_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define SEC_RET_DENY BPF_STMT(BPF_RET | BPF_K, SEC_DENY)
/* Jump `t` instructions ahead when the accumulator equals k, else go on. */
#define SEC_IF_EQ(k, t) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), 0)

static void sec_install_filter(void (*fail)(const char *fmt, ...)) {
  struct sock_filter filter[] = {
      /* A foreign architecture's numbers mean other syscalls: deny all of them. */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SEC_AUDIT_ARCH, 1, 0),
      SEC_RET_DENY,
      SEC_LOAD_NR,
#if SEC_X32_BIT
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SEC_X32_BIT, 0, 1),
      SEC_RET_DENY,
#endif
      SEC_DENY_NR(__NR_io_uring_setup),
      SEC_DENY_NR(__NR_io_uring_enter),
      SEC_DENY_NR(__NR_io_uring_register),
      SEC_DENY_NR(__NR_keyctl),
      SEC_DENY_NR(__NR_add_key),
      SEC_DENY_NR(__NR_request_key),
      SEC_DENY_NR(__NR_userfaultfd),
      SEC_DENY_NR(__NR_bpf),
      SEC_DENY_NR(__NR_perf_event_open),
      SEC_DENY_NR(__NR_kexec_load),
      SEC_DENY_NR(__NR_kexec_file_load),
      SEC_DENY_NR(__NR_init_module),
      SEC_DENY_NR(__NR_finit_module),
      SEC_DENY_NR(__NR_delete_module),
      SEC_DENY_NR(__NR_open_by_handle_at),
      SEC_DENY_NR(__NR_name_to_handle_at),
      SEC_DENY_NR(__NR_syslog),
      SEC_DENY_NR(__NR_swapon),
      SEC_DENY_NR(__NR_swapoff),
      SEC_DENY_NR(__NR_acct),
      SEC_DENY_NR(__NR_quotactl),
#ifdef __NR_quotactl_fd
      SEC_DENY_NR(__NR_quotactl_fd),
#endif
      SEC_DENY_NR(__NR_mbind),
      SEC_DENY_NR(__NR_migrate_pages),
      SEC_DENY_NR(__NR_move_pages),
      SEC_DENY_NR(__NR_set_mempolicy),
#ifdef __NR_set_mempolicy_home_node
      SEC_DENY_NR(__NR_set_mempolicy_home_node),
#endif
      SEC_DENY_NR(__NR_fanotify_init),
#ifdef __NR_uselib
      SEC_DENY_NR(__NR_uselib),
#endif
#ifdef __NR_lookup_dcookie
      SEC_DENY_NR(__NR_lookup_dcookie),
#endif
      SEC_NOSYS_NR(__NR_fsopen),
      SEC_NOSYS_NR(__NR_fsconfig),
      SEC_NOSYS_NR(__NR_fsmount),
      SEC_NOSYS_NR(__NR_fspick),
      /* ioctl(fd, TIOCSTI|TIOCLINUX, ...): typing into a terminal someone else reads;
       * ioctl(fd, TIOCSETD, ...): attaching a line discipline, a driver with a bug history. */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 6),
      SEC_LOAD_ARG_LO(1),
      SEC_IF_EQ(TIOCSTI, 3),
      SEC_IF_EQ(TIOCLINUX, 2),
      SEC_IF_EQ(TIOCSETD, 1),
      SEC_ALLOW,
      SEC_RET_DENY,
      /* socket(), socketpair(): unix, netlink (ip, ss), and inet/inet6 but not raw or packet
       * types. Netlink sockets are SOCK_RAW by design, so the type is checked for inet only;
       * netlink's netfilter protocol is refused. */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 0, 15), /* -> last allow */
      SEC_LOAD_ARG_LO(0),
      SEC_IF_EQ(AF_UNIX, 6),     /* -> allow */
      SEC_IF_EQ(AF_NETLINK, 3),  /* -> protocol check */
      SEC_IF_EQ(AF_INET, 5),     /* -> type check */
      SEC_IF_EQ(AF_INET6, 4),    /* -> type check */
      SEC_RET_DENY,
      SEC_LOAD_ARG_LO(2),
      SEC_IF_EQ(NETLINK_NETFILTER, 6), /* -> deny */
      SEC_ALLOW,
      SEC_LOAD_ARG_LO(1),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf), /* strip SOCK_CLOEXEC / SOCK_NONBLOCK */
      SEC_IF_EQ(SOCK_RAW, 2),     /* -> deny */
      SEC_IF_EQ(SOCK_PACKET, 1),  /* -> deny */
      SEC_ALLOW,
      SEC_RET_DENY,
      SEC_ALLOW,
  };
  struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof *filter), .filter = filter};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) fail("install seccomp filter");
}

#endif
