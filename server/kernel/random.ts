// Random bytes straight from the kernel, for the names a sandbox is known by (its session id
// names its cgroup and its directory). /dev/urandom is the kernel's CSPRNG, the one getrandom(2)
// reads, and once it is seeded it never blocks (random(4)). node:crypto would give the same
// bytes, but loading it, with the WebCrypto its namespace brings, costs `nslab run` about 5 ms
// for 8 bytes.
import fs from "node:fs";

/** `size` bytes from /dev/urandom. Throws if the kernel gives fewer: never a weaker name. */
export function randomBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  const fd = fs.openSync("/dev/urandom", "r");
  try {
    for (let filled = 0; filled < size; ) {
      const read = fs.readSync(fd, bytes, filled, size - filled, null);
      if (read === 0) throw new Error("/dev/urandom: end of file");
      filled += read;
    }
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}
