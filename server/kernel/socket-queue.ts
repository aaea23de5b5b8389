// How much a TCP socket's kernel send queue holds: what the peer has not yet acknowledged (or
// not yet been sent). Node shows only its own buffer (ws.bufferedAmount), which stays empty
// while the kernel's queue, up to several MiB per socket, takes everything; a page on a slow
// link works through that queue for a long time, and only the queue getting shorter shows that
// it reads at all.
import { libcFunction } from "./libc";

const ioctl = libcFunction("int ioctl(int fd, unsigned long request, ...)");
/** SIOCOUTQ (the same number as TIOCOUTQ). */
const SIOCOUTQ = 0x5411;

/** Bytes in the send queue of socket `fd`, or null when they cannot be read (no descriptor,
 *  not a socket). */
export function sendQueueBytes(fd: number | undefined): number | null {
  if (fd === undefined || !Number.isInteger(fd) || fd < 0) return null;
  const out = Buffer.alloc(4);
  if ((ioctl(fd, SIOCOUTQ, "void *", out) as number) !== 0) return null;
  return out.readInt32LE(0);
}

/** The descriptor under a net.Socket (Node keeps it on the handle), when it has one. */
export function socketFd(socket: unknown): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } } | undefined)?._handle?.fd;
  return typeof fd === "number" ? fd : undefined;
}
