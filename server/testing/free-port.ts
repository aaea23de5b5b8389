// A free TCP port for a server a test or a benchmark starts as a process of its own, which
// must be told its port before it listens (a node's address is in its settings).
import net from "node:net";

/** A TCP port of 127.0.0.1 that nothing listens on now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port was assigned"))));
    });
  });
}
