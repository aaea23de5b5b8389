// The file calls that set a sandbox up — its session directory, its cgroup's directories, limit
// writes and chowns — each answering as a promise, made one of two ways. The lab server makes
// them on libuv's thread pool and serves other sessions meanwhile (a cgroup's creation can wait
// tens of milliseconds on the kernel while it removes others). `nslab run` makes them on the
// spot: one sandbox in a process of its own, where nothing else waits on the event loop, and
// some 25 round trips to the thread pool took 8–14 ms where the same calls made at once take
// half a millisecond. The code that calls them is the same either way, so what is made, in
// what order, and the message of each failure are too (Node words a call's error alike).
import fs from "node:fs";

export interface SetupFs {
  mkdir(dir: string, options?: fs.MakeDirectoryOptions): Promise<unknown>;
  writeFile(file: string, data: string): Promise<void>;
  chown(file: string, uid: number, gid: number): Promise<void>;
  access(file: string): Promise<void>;
  rm(file: string, options: fs.RmOptions): Promise<void>;
}

/** On libuv's thread pool: the event loop serves others while each call runs. */
export const threadPoolSetup: SetupFs = fs.promises;

/** Each call made before it returns, its result or its error then settled in a promise. */
function atOnce<A extends unknown[]>(call: (...args: A) => unknown): (...args: A) => Promise<void> {
  return (...args) => {
    try {
      call(...args);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
}

/** Made synchronously: for a process with one sandbox and nothing else to serve (`nslab run`). */
export const synchronousSetup: SetupFs = {
  mkdir: atOnce((dir: string, options?: fs.MakeDirectoryOptions) => fs.mkdirSync(dir, options)),
  writeFile: atOnce((file: string, data: string) => fs.writeFileSync(file, data)),
  chown: atOnce((file: string, uid: number, gid: number) => fs.chownSync(file, uid, gid)),
  access: atOnce((file: string) => fs.accessSync(file)),
  rm: atOnce((file: string, options: fs.RmOptions) => fs.rmSync(file, options)),
};
