import fs from "node:fs";

import { afterEach, describe, expect, it } from "vitest";

import { FakeHost, fixtureLinks } from "./fixtures/fake-proc";
import { NAMESPACE_TYPES, parseNamespaceLink, readHostNamespaces, readNamespaceInodes } from "./namespaces";

describe("parseNamespaceLink", () => {
  it("reads the kind and inode from a link's text", () => {
    expect(parseNamespaceLink("net:[4026531840]")).toEqual({ type: "net", inode: 4026531840 });
    expect(parseNamespaceLink("time:[4026531834]\n")).toEqual({ type: "time", inode: 4026531834 });
  });

  it("names the kind the link points at: pid_for_children reads as a pid namespace", () => {
    // Captured: readlink /proc/<pid>/ns/pid_for_children.
    expect(parseNamespaceLink(fixtureLinks("sandboxed.ns").get("pid_for_children") ?? "")).toEqual({ type: "pid", inode: 4026532181 });
  });

  it("rejects anything else", () => {
    expect(parseNamespaceLink("net:4026531840")).toBeNull();
    expect(parseNamespaceLink("socket:[12345]")).toBeNull();
    expect(parseNamespaceLink("/proc/1/ns/net")).toBeNull();
  });
});

describe("readNamespaceInodes", () => {
  let host: FakeHost | undefined;
  afterEach(() => host?.remove());

  it("reads every type's inode of a sandboxed process", () => {
    host = new FakeHost();
    host.addProcess(15178, { ns: fixtureLinks("sandboxed.ns") });
    const inodes = readNamespaceInodes(15178, { procRoot: host.procRoot, types: NAMESPACE_TYPES });
    expect(inodes).toEqual({
      cgroup: 4026531835,
      ipc: 4026532180,
      mnt: 4026532178,
      net: 4026532182,
      pid: 4026532181,
      pid_for_children: 4026532181,
      time: 4026531834,
      time_for_children: 4026531834,
      user: 4026532177,
      uts: 4026532179,
    });
  });

  it("returns null for a process that exited (its links are gone)", () => {
    host = new FakeHost();
    expect(readNamespaceInodes(4242, { procRoot: host.procRoot, types: NAMESPACE_TYPES })).toBeNull();
  });

  it("keeps a process whose new pid namespace has no init yet, with pid_for_children null", () => {
    host = new FakeHost();
    const links = fixtureLinks("sandboxed.ns");
    links.delete("pid_for_children");
    host.addProcess(15178, { ns: links });
    const inodes = readNamespaceInodes(15178, { procRoot: host.procRoot, types: NAMESPACE_TYPES });
    expect(inodes?.pid_for_children).toBeNull();
    expect(inodes?.net).toBe(4026532182);
  });

  it("reads only the types this kernel has, from the server's own /proc/self/ns", () => {
    host = new FakeHost();
    const selfLinks = fixtureLinks("host.ns");
    selfLinks.delete("time");
    selfLinks.delete("time_for_children");
    host.addProcess("self", { ns: selfLinks });
    const hostInodes = readHostNamespaces(host.procRoot);
    expect(hostInodes.time).toBeNull();
    expect(hostInodes.mnt).toBe(4026531832);
    // A process on that kernel has no time links either; that is not "vanished".
    const processLinks = fixtureLinks("sandboxed.ns");
    processLinks.delete("time");
    processLinks.delete("time_for_children");
    host.addProcess(15178, { ns: processLinks });
    expect(readNamespaceInodes(15178, { procRoot: host.procRoot })?.time).toBeNull();
    expect(readNamespaceInodes(15178, { procRoot: host.procRoot })?.user).toBe(4026532177);
  });

  it("reads this machine's own namespaces", () => {
    const inodes = readHostNamespaces();
    const netLink = fs.readlinkSync("/proc/self/ns/net");
    expect(`net:[${inodes.net}]`).toBe(netLink);
    expect(inodes.mnt).toBeGreaterThan(0);
  });
});
