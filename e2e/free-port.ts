// A TCP port nothing on this machine listens on now, found by asking the kernel for one (a
// listen on port 0) in a short child process: the configuration that needs it is read
// synchronously. A fixed port would collide with a lab already serving on it, or with another
// test run on the same machine.
import { spawnSync } from "node:child_process";

const PROGRAM = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";

export function freePort(): number {
  const r = spawnSync(process.execPath, ["-e", PROGRAM], { encoding: "utf8" });
  const port = Number(r.stdout);
  if (r.status !== 0 || !Number.isInteger(port) || port <= 0) {
    throw new Error(`could not find a free TCP port: ${r.stderr || r.error?.message || "no answer"}`);
  }
  return port;
}
