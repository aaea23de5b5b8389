// What the "VM vs container" diagram shows, as data: both stacks layer by layer, what each layer
// is, and the live facts of the learner's own sandbox that fill the container side. Kept apart
// from the drawing so that it reads as the lesson's content and can be tested without a DOM.

import type { ProbeSnapshot } from "../../common/lab-state";

export type StackSide = "vm" | "container";

export type LayerKind = "hardware" | "hypervisor" | "kernel" | "runtime" | "guest-os" | "libs" | "app";

export interface StackLayer {
  id: string;
  kind: LayerKind;
  label: string;
  /** A second, smaller line inside the box. */
  sublabel?: string;
  /** Shown on hover and keyboard focus. */
  detail: string;
  /** null: spans every instance (hardware, hypervisor, kernel); otherwise the instance column. */
  instance: number | null;
  /** Drawn with the "live" accent: a fact read from the learner's sandbox. */
  live?: boolean;
}

export interface StackModel {
  side: StackSide;
  title: string;
  /** Bottom first. Shared layers, then per-instance layers from the bottom up. */
  layers: StackLayer[];
  instances: number;
  footnote: string;
}

/** The facts of the learner's sandbox the container side shows. */
export interface SandboxFacts {
  hostname: string;
  hostPid: number;
  kernelRelease: string;
  memoryUsageBytes: number | null;
  memoryLimitBytes: number | null;
  hostMemoryBytes: number;
}

const MiB = 1024 * 1024;

export function formatMiB(bytes: number): string {
  const mib = bytes / MiB;
  return mib >= 100 || Number.isInteger(mib) ? `${Math.round(mib)} MiB` : `${mib.toFixed(1)} MiB`;
}

export function vmStack(): StackModel {
  const perVm = (instance: number, app: string): StackLayer[] => [
    {
      id: `vm${instance}-os`,
      kind: "guest-os",
      label: "Guest OS + kernel",
      sublabel: "its own init and drivers",
      detail:
        "Each VM boots a complete operating system of its own: a kernel, an init system such as systemd or OpenRC, and its daemons. That costs seconds to boot and typically 200 MB to 1 GB of memory before the application starts.",
      instance,
    },
    {
      id: `vm${instance}-libs`,
      kind: "libs",
      label: "Libraries / runtime",
      detail: "The shared libraries and language runtime the application needs, installed inside the guest's disk image.",
      instance,
    },
    {
      id: `vm${instance}-app`,
      kind: "app",
      label: app,
      detail: "The application: an ordinary process of the guest kernel, which the host kernel never sees as such — it only sees the VM.",
      instance,
    },
  ];
  return {
    side: "vm",
    title: "Virtual machines",
    instances: 2,
    footnote: "Each VM: a full OS, kernel and libraries (~500 MB and up), seconds to boot.",
    layers: [
      {
        id: "vm-hardware",
        kind: "hardware",
        label: "Physical hardware",
        sublabel: "CPU · RAM · disk",
        detail: "The machine itself. The hypervisor hands each guest a slice of its CPUs, memory and disk that looks like a whole computer.",
        instance: null,
      },
      {
        id: "vm-hypervisor",
        kind: "hypervisor",
        label: "Hypervisor",
        sublabel: "KVM · ESXi · Hyper-V · Nitro",
        detail:
          "The wall between tenants. It emulates (or, with hardware virtualisation, passes through) a computer for each guest. Guest kernels never share memory, so a bug in one guest's kernel stays in that guest; the hypervisor is small and heavily audited, though not flawless.",
        instance: null,
      },
      ...perVm(0, "App A"),
      ...perVm(1, "App B"),
    ],
  };
}

export function containerStack(facts: SandboxFacts | null): StackModel {
  const kernelSub = facts ? `Linux ${facts.kernelRelease} — the same inside and out` : "namespaces + cgroups isolate each container";
  const mine: StackLayer[] = facts
    ? [
        {
          id: "c0-libs",
          kind: "libs",
          label: "Libraries (image)",
          sublabel: "bash, coreutils, iproute2",
          detail:
            "Your sandbox's root filesystem: read-only image layers under a writable layer of your own, joined by OverlayFS. Only libraries and tools — no kernel.",
          instance: 0,
        },
        {
          id: "c0-app",
          kind: "app",
          label: "Your shell",
          sublabel: `pid 1 · host pid ${facts.hostPid}`,
          detail: `Your shell is pid 1 in its own pid namespace and pid ${facts.hostPid} in the host's: one process, two numbers. Its hostname, ${facts.hostname}, comes from its own uts namespace.`,
          instance: 0,
          live: true,
        },
      ]
    : [
        {
          id: "c0-libs",
          kind: "libs",
          label: "Libraries / runtime",
          sublabel: "from the image",
          detail: "Only the libraries and binaries the application needs, from the image's layers, mounted as the container's root with OverlayFS.",
          instance: 0,
        },
        {
          id: "c0-app",
          kind: "app",
          label: "App A",
          sublabel: "pid 1 · host pid 3841",
          detail: "An ordinary process of the host kernel. Its pid namespace numbers it 1; the host numbers it something else, say 3841.",
          instance: 0,
        },
      ];
  return {
    side: "container",
    title: "Containers",
    instances: 2,
    footnote: "Each container: libraries only (images of ~5–100 MB), milliseconds to start. No guest kernel: system calls go straight to the host's.",
    layers: [
      {
        id: "c-hardware",
        kind: "hardware",
        label: "Physical hardware",
        sublabel: "CPU · RAM · disk",
        detail: "The same machine. Nothing emulates it: containers run on it exactly as any other process does.",
        instance: null,
      },
      {
        id: "c-kernel",
        kind: "kernel",
        label: "Host kernel (shared)",
        sublabel: kernelSub,
        detail: facts
          ? `One kernel for everything: uname -r prints ${facts.kernelRelease} in your sandbox and on the host alike. Namespaces give each container its own view; cgroups give it a budget. A bug in this kernel is a bug for every container on the host.`
          : "One kernel for the host and every container. Namespaces give each container its own view of processes, network, mounts and names; cgroups give it a budget. A bug in this kernel is a bug for every container on the host.",
        instance: null,
        live: facts !== null,
      },
      {
        id: "c-runtime",
        kind: "runtime",
        label: "Container runtime",
        sublabel: facts ? "here: nslab's launcher (Docker: containerd + runc)" : "containerd + runc",
        detail:
          "Not a layer your program runs on, but the tool that set it up: it asks the kernel for namespaces, writes the cgroup limits and mounts the image, then gets out of the way. Docker uses containerd and runc; this lab uses a small launcher of its own.",
        instance: null,
      },
      ...mine,
      {
        id: "c1-libs",
        kind: "libs",
        label: "Libraries / runtime",
        detail: "Another container's image layers: it may use a different distribution's libraries, but never a different kernel.",
        instance: 1,
      },
      {
        id: "c1-app",
        kind: "app",
        label: "App B",
        detail: "Another ordinary process of the same kernel, in namespaces of its own: it cannot see App A's processes, network or mounts.",
        instance: 1,
      },
    ],
  };
}

/** The sandbox facts from the lab, or null when there is no live session (reference figures). */
export function sandboxFacts(
  session: { hostname: string; hostPid: number; host: { kernelRelease: string; memoryBytes: number }; limits: { memoryBytes: number } } | null,
  live: ProbeSnapshot | null,
): SandboxFacts | null {
  if (!session) return null;
  return {
    hostname: session.hostname,
    hostPid: session.hostPid,
    kernelRelease: session.host.kernelRelease,
    memoryUsageBytes: live?.cgroup.memory.usageBytes.value ?? null,
    memoryLimitBytes: live?.cgroup.memory.limitBytes.value ?? session.limits.memoryBytes,
    hostMemoryBytes: session.host.memoryBytes,
  };
}

/** A sentence per stack, for the text version of the diagram. */
export function describeStack(model: StackModel): string[] {
  const shared = model.layers.filter((layer) => layer.instance === null).map((layer) => layer.label);
  const lines = [`${model.title}, from the bottom: ${shared.join(", then ")}.`];
  for (let instance = 0; instance < model.instances; instance++) {
    const own = model.layers.filter((layer) => layer.instance === instance);
    lines.push(
      `On top, instance ${instance + 1} has: ${own.map((layer) => (layer.sublabel ? `${layer.label} (${layer.sublabel})` : layer.label)).join(", then ")}.`,
    );
  }
  lines.push(model.footnote);
  return lines;
}
