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
 *   lesson needs), raw inet sockets, every netlink protocol but rtnetlink (ip, tc) and
 *   sock_diag (ss) — xfrm, generic netlink and netfilter's (nf_tables: CVE-2022-1015,
 *   CVE-2023-32233, CVE-2024-1086) among them — and every syscall of a foreign ABI (x32, i386), whose
 *   numbers would slip past this list.
 * The file-system context calls (fsopen, fsconfig, fsmount, fspick; CVE-2022-0185) answer
 * ENOSYS rather than EPERM, so that libmount falls back to mount(2), which the lessons use.
 * Installed as the last step before exec, after no_new_privs, as bubblewrap and nsjail do.
 */
#ifndef NSLAB_SECCOMP_H
#define NSLAB_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
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

#define SEC_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* ---------------------------------------------------------------------------------------- */
/* A small assembler. Classic BPF jumps are forward offsets counted in instructions, so a
 * hand-counted offset goes quietly wrong when one line is added above its target. Here a jump
 * names its target, the targets are placed with sec_label(), and sec_resolve() computes every
 * offset once the program is complete; a target that is missing, behind the jump or out of a
 * jump's reach fails the launcher instead of retargeting a rule. */

enum sec_target {
  SEC_NEXT = -1, /* fall through to the next instruction */
  SEC_L_ALLOW,
  SEC_L_DENY,        /* EPERM */
  SEC_L_NOSYS,       /* ENOSYS */
  SEC_L_NOPROTO,     /* EPROTONOSUPPORT */
  SEC_L_IOCTL,
  SEC_L_SOCKET,
  SEC_L_NETLINK,
  SEC_L_INET,
  SEC_LABELS,
};

#define SEC_MAX_INSNS 256

struct sec_prog {
  struct sock_filter insn[SEC_MAX_INSNS];
  signed char jt[SEC_MAX_INSNS], jf[SEC_MAX_INSNS]; /* targets of conditional jumps */
  signed char ja[SEC_MAX_INSNS];                    /* target of BPF_JA, or SEC_NEXT */
  int at[SEC_LABELS];                               /* where each label is, -1 if nowhere */
  unsigned n;
  const char *error;
};

static void sec_emit(struct sec_prog *p, struct sock_filter insn, int jt, int jf, int ja) {
  if (p->n == SEC_MAX_INSNS) {
    p->error = "the seccomp program is longer than SEC_MAX_INSNS";
    return;
  }
  p->insn[p->n] = insn;
  p->jt[p->n] = (signed char)jt;
  p->jf[p->n] = (signed char)jf;
  p->ja[p->n] = (signed char)ja;
  p->n++;
}

static void sec_stmt(struct sec_prog *p, unsigned short code, unsigned k) {
  sec_emit(p, (struct sock_filter)BPF_STMT(code, k), SEC_NEXT, SEC_NEXT, SEC_NEXT);
}
static void sec_load_nr(struct sec_prog *p) { sec_stmt(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)); }
/* The low 32 bits of an argument: the kernel reads socket()'s family, type and protocol and
 * ioctl()'s request as 32-bit values, so the high half cannot change what the call does. */
static void sec_load_arg(struct sec_prog *p, int n) {
  sec_stmt(p, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, args[n]));
}
/* if (A == k) goto jt; else goto jf. */
static void sec_if_eq(struct sec_prog *p, unsigned k, int jt, int jf) {
  sec_emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0), jt, jf, SEC_NEXT);
}
__attribute__((unused)) static void sec_if_ge(struct sec_prog *p, unsigned k, int jt, int jf) {
  sec_emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, k, 0, 0), jt, jf, SEC_NEXT);
}
static void sec_goto(struct sec_prog *p, int target) {
  sec_emit(p, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0), SEC_NEXT, SEC_NEXT, target);
}
static void sec_ret(struct sec_prog *p, unsigned action) { sec_stmt(p, BPF_RET | BPF_K, action); }
static void sec_label(struct sec_prog *p, int label) {
  if (p->at[label] >= 0) p->error = "a seccomp label is placed twice";
  p->at[label] = (int)p->n;
}

/* Offsets from the instruction after the jump to the label; each must be ahead of the jump and,
 * for the 8-bit conditional fields, within 255. */
static int sec_offset(const struct sec_prog *p, unsigned i, int target, unsigned max, unsigned *out) {
  if (target == SEC_NEXT) {
    *out = 0;
    return 0;
  }
  int at = p->at[target];
  if (at < 0 || at <= (int)i || (unsigned)(at - (int)i - 1) > max) return -1;
  *out = (unsigned)(at - (int)i - 1);
  return 0;
}

static const char *sec_resolve(struct sec_prog *p) {
  if (p->error) return p->error;
  for (unsigned i = 0; i < p->n; i++) {
    unsigned jt, jf, ja;
    if (sec_offset(p, i, p->jt[i], 255, &jt) || sec_offset(p, i, p->jf[i], 255, &jf) ||
        sec_offset(p, i, p->ja[i], 0xffffffffu, &ja))
      return "a seccomp jump targets a label that is missing, behind it, or out of its reach";
    if (BPF_CLASS(p->insn[i].code) == BPF_JMP && BPF_OP(p->insn[i].code) == BPF_JA) {
      p->insn[i].k = ja;
    } else if (BPF_CLASS(p->insn[i].code) == BPF_JMP) {
      p->insn[i].jt = (unsigned char)jt;
      p->insn[i].jf = (unsigned char)jf;
    }
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */

/* Denied with EPERM wherever they appear. */
static const unsigned sec_denied[] = {
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
    __NR_keyctl, __NR_add_key, __NR_request_key,
    __NR_userfaultfd, __NR_bpf, __NR_perf_event_open,
    __NR_kexec_load, __NR_kexec_file_load,
    __NR_init_module, __NR_finit_module, __NR_delete_module,
    __NR_open_by_handle_at, __NR_name_to_handle_at,
    __NR_syslog, __NR_swapon, __NR_swapoff, __NR_acct, __NR_quotactl,
#ifdef __NR_quotactl_fd
    __NR_quotactl_fd,
#endif
    __NR_mbind, __NR_migrate_pages, __NR_move_pages, __NR_set_mempolicy,
#ifdef __NR_set_mempolicy_home_node
    __NR_set_mempolicy_home_node,
#endif
    __NR_fanotify_init,
#ifdef __NR_uselib
    __NR_uselib,
#endif
#ifdef __NR_lookup_dcookie
    __NR_lookup_dcookie,
#endif
};

/* Answered ENOSYS, so that libmount falls back to mount(2). */
static const unsigned sec_nosys[] = {__NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick};

/* The netlink protocols the course uses: rtnetlink for ip (links, addresses, routes, netns,
 * veth) and tc, and sock_diag for ss. Every other protocol is refused: xfrm (IPsec state, a
 * long run of user-namespace CVEs), generic netlink (the families behind it — wireguard,
 * mptcp, ethtool, nl80211, … — are exploit surface no lesson needs), netfilter (nf_tables:
 * CVE-2022-1015, CVE-2023-32233, CVE-2024-1086), connector, crypto, uevents, and the rest. */
static const unsigned sec_netlink_allowed[] = {NETLINK_ROUTE, NETLINK_SOCK_DIAG};

static void sec_install_filter(void (*fail)(const char *fmt, ...)) {
  struct sec_prog prog_, *p = &prog_;
  memset(p, 0, sizeof *p);
  for (int i = 0; i < SEC_LABELS; i++) p->at[i] = -1;

  /* A foreign architecture's numbers mean other syscalls: deny all of them. */
  sec_stmt(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  sec_if_eq(p, SEC_AUDIT_ARCH, SEC_NEXT, SEC_L_DENY);
  sec_load_nr(p);
#if SEC_X32_BIT
  sec_if_ge(p, SEC_X32_BIT, SEC_L_DENY, SEC_NEXT);
#endif
  for (size_t i = 0; i < sizeof sec_denied / sizeof *sec_denied; i++) sec_if_eq(p, sec_denied[i], SEC_L_DENY, SEC_NEXT);
  for (size_t i = 0; i < sizeof sec_nosys / sizeof *sec_nosys; i++) sec_if_eq(p, sec_nosys[i], SEC_L_NOSYS, SEC_NEXT);
  sec_if_eq(p, __NR_ioctl, SEC_L_IOCTL, SEC_NEXT);
  sec_if_eq(p, __NR_socket, SEC_L_SOCKET, SEC_NEXT);
  sec_if_eq(p, __NR_socketpair, SEC_L_SOCKET, SEC_NEXT);
  sec_goto(p, SEC_L_ALLOW);

  /* ioctl(fd, TIOCSTI|TIOCLINUX, ...): typing into a terminal someone else reads;
   * ioctl(fd, TIOCSETD, ...): attaching a line discipline, a driver with a bug history. */
  sec_label(p, SEC_L_IOCTL);
  sec_load_arg(p, 1);
  sec_if_eq(p, TIOCSTI, SEC_L_DENY, SEC_NEXT);
  sec_if_eq(p, TIOCLINUX, SEC_L_DENY, SEC_NEXT);
  sec_if_eq(p, TIOCSETD, SEC_L_DENY, SEC_L_ALLOW);

  /* socket(), socketpair(): an allow-list of families — unix, netlink, inet and inet6 — so
   * packet, vsock, alg, PF_KEY (xfrm's other door) and every family a kernel adds later are
   * refused. Netlink sockets are SOCK_RAW by design, so the type is checked for inet only. */
  sec_label(p, SEC_L_SOCKET);
  sec_load_arg(p, 0);
  sec_if_eq(p, AF_UNIX, SEC_L_ALLOW, SEC_NEXT);
  sec_if_eq(p, AF_NETLINK, SEC_L_NETLINK, SEC_NEXT);
  sec_if_eq(p, AF_INET, SEC_L_INET, SEC_NEXT);
  sec_if_eq(p, AF_INET6, SEC_L_INET, SEC_L_DENY);

  sec_label(p, SEC_L_NETLINK);
  sec_load_arg(p, 2);
  for (size_t i = 0; i < sizeof sec_netlink_allowed / sizeof *sec_netlink_allowed; i++)
    sec_if_eq(p, sec_netlink_allowed[i], SEC_L_ALLOW, SEC_NEXT);
  /* Audit as a kernel without it answers: PAM (su) and libaudit take EPROTONOSUPPORT for
   * "no audit here" and carry on, but refuse a login on EPERM. Nothing can be sent on it from
   * outside the initial user namespace anyway. */
  sec_if_eq(p, NETLINK_AUDIT, SEC_L_NOPROTO, SEC_L_DENY);

  sec_label(p, SEC_L_INET);
  sec_load_arg(p, 1);
  sec_stmt(p, BPF_ALU | BPF_AND | BPF_K, 0xf); /* strip SOCK_CLOEXEC / SOCK_NONBLOCK */
  sec_if_eq(p, SOCK_RAW, SEC_L_DENY, SEC_NEXT);
  sec_if_eq(p, SOCK_PACKET, SEC_L_DENY, SEC_L_ALLOW);

  sec_label(p, SEC_L_ALLOW);
  sec_ret(p, SECCOMP_RET_ALLOW);
  sec_label(p, SEC_L_DENY);
  sec_ret(p, SEC_ERRNO(EPERM));
  sec_label(p, SEC_L_NOSYS);
  sec_ret(p, SEC_ERRNO(ENOSYS));
  sec_label(p, SEC_L_NOPROTO);
  sec_ret(p, SEC_ERRNO(EPROTONOSUPPORT));

  const char *error = sec_resolve(p);
  if (error) {
    errno = EINVAL;
    fail("%s", error);
  }
  struct sock_fprog prog = {.len = (unsigned short)p->n, .filter = p->insn};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) fail("install seccomp filter");
}

#endif
