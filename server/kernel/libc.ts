// The C library's calls Node has no API for (pidfds, a pipe node-pty's child inherits, the
// spawner's sendmsg/recvmsg and ioctls), through koffi. koffi and libc load with the first call
// that needs one, not with the modules that declare them: loading them costs 20–30 ms, and
// `nslab run` without a terminal usually makes no such call at all (its launcher's report comes
// on a socket child_process makes, and its sandbox's processes are gone by the time it is torn
// down, so nothing is pinned or signalled).
import { createRequire } from "node:module";

import type * as Koffi from "koffi";

let loaded: { koffi: typeof Koffi; libc: Koffi.LibraryHandle } | null = null;

function load(): { koffi: typeof Koffi; libc: Koffi.LibraryHandle } {
  if (!loaded) {
    const koffi = createRequire(import.meta.url)("koffi") as typeof Koffi;
    loaded = { koffi, libc: koffi.load("libc.so.6") };
  }
  return loaded;
}

/** koffi itself, for memory the calls below read and write (koffi.alloc, view, address). */
export function koffi(): typeof Koffi {
  return load().koffi;
}

/** A libc function from its C prototype, declared with koffi when it is first called. */
export function libcFunction(prototype: string): (...args: unknown[]) => unknown {
  let call: ((...args: unknown[]) => unknown) | null = null;
  return (...args) => {
    call ??= load().libc.func(prototype);
    return call(...args);
  };
}

/** errno as the last libc call through koffi left it. */
export function errno(): number {
  return load().koffi.errno();
}
