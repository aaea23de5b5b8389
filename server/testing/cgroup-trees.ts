// Trees of directories for the tests of what walks cgroup trees (the walker, the child-cgroup
// watch): inotify and the walker treat a cgroup hierarchy as directories too.
import fs from "node:fs";

/**
 * A chain of `levels` directories named `name` below `base`, made through descriptors as a
 * learner's `cd name` loop makes it: its bottom can be further from `base` than PATH_MAX.
 * `atBottom` gets a short path to the last one (good until it returns).
 */
export function deepChain(base: string, name: string, levels: number, atBottom?: (dir: string) => void): void {
  let fd = fs.openSync(base, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    for (let i = 0; i < levels; i++) {
      const next = `/proc/self/fd/${fd}/${name}`;
      fs.mkdirSync(next);
      const nextFd = fs.openSync(next, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      fs.closeSync(fd);
      fd = nextFd;
    }
    atBottom?.(`/proc/self/fd/${fd}`);
  } finally {
    fs.closeSync(fd);
  }
}
