// The diagrams' data and drawings, from fixtures: no clock, no network, no lab. The drawings are
// rendered to static markup, which is deterministic for the same props.

import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { LAUNCH_STEP_NAMES } from "../../common/launch-events";

import { GiB, MiB, REFERENCE_DENSITY, estimateDensity } from "./density-model";
import { DensityEstimateView } from "./density-estimate-view";
import { StackDiagramView } from "./stack-diagram-view";
import { placeLayers } from "./stack-layout";
import { containerStack, describeStack, sandboxFacts, vmStack } from "./stack-model";
import { DOCKER_STAGES, REFERENCE_STARTUP, formatMs, formatMsRange, stageTotals, timelineBars } from "./startup-model";
import { StartupTimelineView } from "./startup-timeline-view";

const session = {
  hostname: "lab-00c0ff",
  hostPid: 31337,
  host: { kernelRelease: "6.18.44", memoryBytes: 4 * GiB, cpus: 2 },
  limits: { memoryBytes: 256 * MiB },
};

describe("stack model", () => {
  it("puts the learner's sandbox on the container side when a session is live", () => {
    const facts = sandboxFacts(session, null);
    expect(facts).toMatchObject({ hostPid: 31337, kernelRelease: "6.18.44", memoryUsageBytes: null, memoryLimitBytes: 256 * MiB });
    const stack = containerStack(facts);
    const kernel = stack.layers.find((layer) => layer.kind === "kernel");
    expect(kernel?.sublabel).toBe("Linux 6.18.44 — the same inside and out");
    expect(kernel?.live).toBe(true);
    expect(stack.layers.find((layer) => layer.id === "c0-app")?.sublabel).toBe("pid 1 · host pid 31337");
  });

  it("shows reference layers without a session", () => {
    expect(sandboxFacts(null, null)).toBeNull();
    const stack = containerStack(null);
    expect(stack.layers.some((layer) => layer.live)).toBe(false);
    expect(stack.layers.find((layer) => layer.id === "c0-app")?.sublabel).toContain("3841");
  });

  it("gives each VM a guest OS and kernel, and containers none", () => {
    expect(vmStack().layers.filter((layer) => layer.kind === "guest-os")).toHaveLength(2);
    expect(containerStack(null).layers.filter((layer) => layer.kind === "guest-os")).toHaveLength(0);
    expect(containerStack(null).layers.filter((layer) => layer.kind === "kernel" && layer.instance === null)).toHaveLength(1);
  });

  it("lays shared layers full width under the per-instance columns", () => {
    const { placed, height } = placeLayers(vmStack());
    const hardware = placed.find((p) => p.layer.kind === "hardware");
    expect(hardware).toMatchObject({ x: 0, width: 320 });
    expect((hardware?.y ?? 0) + (hardware?.height ?? 0)).toBe(height);
    const apps = placed.filter((p) => p.layer.kind === "app");
    expect(apps).toHaveLength(2);
    expect(apps[0]?.y).toBe(apps[1]?.y);
    expect(apps.every((app) => app.width < 160)).toBe(true);
  });

  it("describes both stacks in words", () => {
    expect(describeStack(vmStack())[0]).toBe("Virtual machines, from the bottom: Physical hardware, then Hypervisor.");
  });

  it("draws the same markup for the same props, focusable layers included", () => {
    const facts = sandboxFacts(session, null);
    const render = () => renderToStaticMarkup(createElement(StackDiagramView, { vm: vmStack(), container: containerStack(facts), facts }));
    const html = render();
    expect(html).toBe(render());
    expect(html).toContain('data-mode="live"');
    expect(html.match(/tabindex="0"/g)?.length).toBeGreaterThanOrEqual(13);
    expect(html).toContain("live: your sandbox");
  });
});

describe("start-up timeline", () => {
  it("runs each bar from the previous step's report to its own", () => {
    const bars = timelineBars([
      { step: "clone", atMs: 2 },
      { step: "start", atMs: 0.5 },
      { step: "exec", atMs: 7 },
    ]);
    expect(bars.map((b) => [b.step, b.stage, b.startMs, b.endMs])).toEqual([
      ["start", 3, 0, 0.5],
      ["clone", 4, 0.5, 2],
      ["exec", 7, 2, 7],
    ]);
  });

  it("names every step a started sandbox reports, and keeps a failure report outside docker's stages", () => {
    const started = LAUNCH_STEP_NAMES.filter((step) => step !== "exec-failed" && step !== "error");
    for (const step of started) expect(timelineBars([{ step, atMs: 1 }])[0]?.stage, step).not.toBeNull();
    expect(timelineBars([{ step: "exec-failed", atMs: 1 }])[0]).toMatchObject({ label: "exec-failed", stage: null });
  });

  it("places every reference step under a docker run stage, the cgroup join under 5", () => {
    const bars = timelineBars(REFERENCE_STARTUP);
    expect(bars.every((bar) => bar.stage !== null)).toBe(true);
    const totals = stageTotals(bars);
    expect(totals.get(5)).toBeCloseTo(13.48, 2);
    expect([...totals.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(17.22, 2);
  });

  it("names the daemon hops nslab skips", () => {
    expect(DOCKER_STAGES.filter((stage) => stage.nslabSkips !== null).map((stage) => stage.n)).toEqual([1, 2]);
    expect(DOCKER_STAGES).toHaveLength(7);
  });

  it("formats milliseconds for reading", () => {
    expect([formatMs(0), formatMs(0.06), formatMs(2.4), formatMs(17.22), formatMs(300), formatMs(1500), formatMs(5000), formatMs(60_000)]).toEqual([
      "0 ms",
      "0.06 ms",
      "2.4 ms",
      "17 ms",
      "300 ms",
      "1.5 s",
      "5 s",
      "60 s",
    ]);
    expect([formatMsRange(50, 300), formatMsRange(5000, 60_000), formatMsRange(125, 125), formatMsRange(300, 5000)]).toEqual([
      "50–300 ms",
      "5–60 s",
      "125 ms",
      "300 ms–5 s",
    ]);
  });

  it("draws reference figures marked as such, deterministically", () => {
    const render = () => renderToStaticMarkup(createElement(StartupTimelineView, { bars: timelineBars(REFERENCE_STARTUP), mode: "reference" }));
    const html = render();
    expect(html).toBe(render());
    expect(html).toContain("reference, not live");
    expect(html).toContain("A sandbox starts in about 17 ms");
    // The cgroup join: from 2.42 ms to 15.9 ms of 17.22 ms, in a 1000-wide bar space.
    expect(html).toMatch(/data-bar="cgroup"><rect[^>]*><\/rect><rect x="140\.53\d*" y="2" width="782\.8\d*"/);
    expect(html.match(/>skipped</g)).toHaveLength(2);
  });
});

describe("density estimate", () => {
  it("divides the host's memory by each footprint", () => {
    expect(estimateDensity({ hostMemoryBytes: 16 * GiB, containerFootprintBytes: 100 * MiB, appBytes: 0 })).toEqual({
      containers: 163,
      vmsLow: 8,
      vmsHigh: 16,
    });
    expect(estimateDensity({ hostMemoryBytes: 16 * GiB, containerFootprintBytes: 1 * MiB, appBytes: 1 * GiB })).toEqual({
      containers: 15,
      vmsLow: 5,
      vmsHigh: 8,
    });
  });

  it("refuses impossible inputs with the option's name", () => {
    expect(() => estimateDensity({ hostMemoryBytes: 0, containerFootprintBytes: 1, appBytes: 0 })).toThrow(/hostMemoryBytes/);
    expect(() => estimateDensity({ hostMemoryBytes: 1, containerFootprintBytes: 0, appBytes: 0 })).toThrow(/containerFootprintBytes/);
  });

  it("shows the lesson's example without a session, labelled as reference", () => {
    const html = renderToStaticMarkup(createElement(DensityEstimateView, { hostMemoryBytes: null, footprintBytes: null }));
    expect(html).toContain("reference, not live");
    expect(html).toContain(`>${REFERENCE_DENSITY.containers}<`);
    expect(html).toContain(`>${REFERENCE_DENSITY.vms}<`);
  });

  it("estimates from the live footprint, labelled as an estimate", () => {
    const html = renderToStaticMarkup(createElement(DensityEstimateView, { hostMemoryBytes: 4 * GiB, footprintBytes: 2 * MiB }));
    expect(html).toContain("live: your sandbox");
    expect(html).toContain("(estimate)");
    expect(html).toContain(">2,048<");
    expect(html).toContain(">2–4<");
  });
});
