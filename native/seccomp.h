/*
 * seccomp.h — the system calls a learner's sandbox never needs, denied with EPERM.
 *
 * A deny list, not an allow list: the course itself uses unshare, setns, mount, pivot_root and
 * clone with namespace flags inside the sandbox, which Docker's default profile forbids. What
 * is denied here is what no lesson uses and what has a history of kernel bugs reachable from
 * a user namespace, or reaches state outside the sandbox (SECURITY.md):
 *   io_uring, keyrings, userfaultfd, bpf, perf_event_open, kexec, kernel modules,
 *   open_by_handle_at (the "shocker" escape), the kernel log, swap, accounting, NUMA page
 *   moves, TIOCSTI/TIOCLINUX on ttys (CVE-2017-5226), raw and packet sockets, and every
 *   syscall of a foreign ABI (x32, i386), whose numbers would slip past this list.
 * Installed as the last step before exec, after no_new_privs, as bubblewrap and nsjail do.
 */
#ifndef NSLAB_SECCOMP_H
#define NSLAB_SECCOMP_H

#include <linux/audit.h>
#include <linux/filter.h>
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
#define SEC_LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define SEC_LOAD_ARG_LO(n) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[n]))
#define SEC_DENY_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SEC_DENY)
#define SEC_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void sec_install_filter(void (*fail)(const char *fmt, ...)) {
  struct sock_filter filter[] = {
      /* A foreign architecture's numbers mean other syscalls: deny all of them. */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SEC_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SEC_DENY),
      SEC_LOAD_NR,
#if SEC_X32_BIT
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SEC_X32_BIT, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SEC_DENY),
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
      SEC_DENY_NR(__NR_mbind),
      SEC_DENY_NR(__NR_migrate_pages),
      SEC_DENY_NR(__NR_move_pages),
      SEC_DENY_NR(__NR_set_mempolicy),
      SEC_DENY_NR(__NR_fanotify_init),
#ifdef __NR_uselib
      SEC_DENY_NR(__NR_uselib),
#endif
#ifdef __NR_lookup_dcookie
      SEC_DENY_NR(__NR_lookup_dcookie),
#endif
      /* ioctl(fd, TIOCSTI|TIOCLINUX, ...): typing into a terminal someone else reads. */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 5),
      SEC_LOAD_ARG_LO(1),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 1, 0),
      SEC_ALLOW,
      BPF_STMT(BPF_RET | BPF_K, SEC_DENY),
      /* socket(): no packet sockets, no raw sockets; netlink (ip), unix and inet stay. */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 7),
      SEC_LOAD_ARG_LO(0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 4, 0),
      SEC_LOAD_ARG_LO(1),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf), /* strip SOCK_CLOEXEC / SOCK_NONBLOCK */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_RAW, 1, 0),
      SEC_ALLOW,
      BPF_STMT(BPF_RET | BPF_K, SEC_DENY),
      SEC_ALLOW,
  };
  struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof *filter), .filter = filter};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) fail("install seccomp filter");
}

#endif
