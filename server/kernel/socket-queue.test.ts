// The kernel's send queue of a TCP socket, which the heartbeat reads to tell a page that reads
// slowly from one that reads nothing: it fills while the peer reads nothing and shrinks as soon
// as the peer reads.
import net from "node:net";

import { describe, expect, it } from "vitest";

import { waitUntil } from "../testing/traces";

import { sendQueueBytes, socketFd } from "./socket-queue";

describe("sendQueueBytes", () => {
  it("counts what a peer that reads nothing leaves queued, and less once it reads", async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => {
      server.once("connection", resolve);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const reader = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    await new Promise((resolve) => reader.once("connect", resolve));
    reader.pause();
    const writer = await accepted;
    try {
      const fd = socketFd(writer);
      expect(fd).toBeGreaterThan(2);
      expect(sendQueueBytes(fd)).toBe(0);
      // More than both kernels' buffers hold: the rest waits in Node's own.
      const chunk = Buffer.alloc(1 << 20, 0x61);
      for (let i = 0; i < 32; i++) writer.write(chunk);
      let full = 0;
      await waitUntil(() => {
        const now = sendQueueBytes(fd) ?? 0;
        const settled = now > 0 && now === full;
        full = now;
        return settled;
      }, "the send queue to fill");
      expect(full).toBeGreaterThan(0);
      // The peer reads for a moment: the queue gets shorter (or Node refills it, and what Node
      // holds gets shorter), which is all the heartbeat asks.
      const before = full + writer.writableLength;
      reader.resume();
      await new Promise((resolve) => setTimeout(resolve, 50));
      reader.pause();
      expect((sendQueueBytes(fd) ?? 0) + writer.writableLength).toBeLessThan(before);
    } finally {
      reader.destroy();
      writer.destroy();
      server.close();
    }
  });

  it("answers null for no descriptor or one that is not a socket", () => {
    expect(sendQueueBytes(undefined)).toBeNull();
    expect(sendQueueBytes(-1)).toBeNull();
    expect(socketFd({})).toBeUndefined();
  });
});
