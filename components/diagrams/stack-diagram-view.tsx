"use client";

// The two stacks, drawn: virtual machines on one side, containers on the other, layer by layer
// from the hardware up. Every layer can be hovered or focused (Tab) to read what it is; the
// explanation appears under the drawing and is announced politely. Pure props: the live wrapper
// (stack-diagram-live.tsx) supplies the learner's sandbox.

import { type KeyboardEvent, useState } from "react";

import { DiagramFrame, type DiagramMode } from "./diagram-frame";
import { StackTextVersion } from "./stack-diagram-text";
import { STACK_WIDTH, placeLayers } from "./stack-layout";
import type { LayerKind, SandboxFacts, StackLayer, StackModel } from "./stack-model";
import { formatMiB } from "./stack-model";

const fills: Record<LayerKind, string> = {
  hardware: "fill-zinc-200 dark:fill-zinc-700",
  hypervisor: "fill-violet-200 dark:fill-violet-900",
  kernel: "fill-sky-200 dark:fill-sky-900",
  runtime: "fill-slate-200 dark:fill-slate-800",
  "guest-os": "fill-rose-200 dark:fill-rose-900",
  libs: "fill-amber-100 dark:fill-amber-900/70",
  app: "fill-emerald-100 dark:fill-emerald-900/70",
};

/** The text, cut with an ellipsis where it would overflow a box `width` units wide (the full
 *  text is in the layer's accessible name and in its explanation). */
function fitText(text: string, width: number, unitsPerChar: number): string {
  const fits = Math.floor((width - 10) / unitsPerChar);
  return text.length <= fits ? text : `${text.slice(0, Math.max(1, fits - 1))}…`;
}

function Stack({
  model,
  selectedId,
  onSelect,
}: {
  model: StackModel;
  selectedId: string | null;
  onSelect: (layer: StackLayer) => void;
}) {
  const { placed, height } = placeLayers(model);
  const onKey = (event: KeyboardEvent, layer: StackLayer) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(layer);
    }
  };
  return (
    <div className="min-w-0">
      <p className="mb-2 text-sm font-semibold" id={`stack-${model.side}-title`}>
        {model.title}
      </p>
      <svg
        viewBox={`-2 -2 ${STACK_WIDTH + 4} ${height + 4}`}
        className="h-auto w-full"
        role="group"
        aria-labelledby={`stack-${model.side}-title`}
        data-testid={`stack-${model.side}`}
      >
        {placed.map(({ layer, x, y, width, height: h }) => {
          const selected = layer.id === selectedId;
          const stroke = selected
            ? "stroke-sky-600 dark:stroke-sky-400"
            : layer.live
              ? "stroke-emerald-600 dark:stroke-emerald-400"
              : "stroke-zinc-400/60 dark:stroke-zinc-500/60";
          return (
            <g
              key={layer.id}
              tabIndex={0}
              role="button"
              aria-pressed={selected}
              aria-label={`${layer.label}${layer.sublabel ? `, ${layer.sublabel}` : ""}${layer.live ? " (live)" : ""}`}
              aria-describedby="stack-layer-detail"
              data-layer-id={layer.id}
              onMouseEnter={() => onSelect(layer)}
              onFocus={() => onSelect(layer)}
              onClick={() => onSelect(layer)}
              onKeyDown={(event) => onKey(event, layer)}
              className="cursor-pointer outline-none [&:focus-visible>rect]:stroke-sky-600 [&:focus-visible>rect]:stroke-[3px] dark:[&:focus-visible>rect]:stroke-sky-400"
            >
              <rect x={x} y={y} width={width} height={h} rx={6} className={`${fills[layer.kind]} ${stroke}`} strokeWidth={selected || layer.live ? 2 : 1} />
              <text
                x={x + width / 2}
                y={y + h / 2 + (layer.sublabel ? -4 : 4)}
                textAnchor="middle"
                className="fill-zinc-900 text-[12px] font-semibold dark:fill-zinc-100"
              >
                {fitText(layer.label, width, 7)}
              </text>
              {layer.sublabel ? (
                <text x={x + width / 2} y={y + h / 2 + 12} textAnchor="middle" className="fill-zinc-700 text-[10px] dark:fill-zinc-300">
                  {fitText(layer.sublabel, width, 5.6)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <p className="mt-2 text-xs leading-5 text-zinc-600 dark:text-zinc-400">{model.footnote}</p>
    </div>
  );
}

function MemoryMeter({ facts }: { facts: SandboxFacts }) {
  const { memoryUsageBytes: usage, memoryLimitBytes: limit } = facts;
  if (usage === null || limit === null) {
    return <p className="mt-3 text-sm text-zinc-600 dark:text-zinc-400">Waiting for the first reading of your sandbox&apos;s memory…</p>;
  }
  const share = Math.min(1, usage / limit);
  return (
    <div className="mt-4">
      <div className="flex flex-wrap justify-between gap-2 text-sm">
        <span id="stack-memory-label">Your sandbox&apos;s memory (its cgroup)</span>
        <span className="font-mono" data-testid="stack-memory">
          {formatMiB(usage)} of {formatMiB(limit)}
        </span>
      </div>
      <div
        role="meter"
        aria-labelledby="stack-memory-label"
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={usage}
        aria-valuetext={`${formatMiB(usage)} of ${formatMiB(limit)}`}
        className="mt-1 h-2 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800"
      >
        <div className="h-full rounded-full bg-emerald-600 dark:bg-emerald-400" style={{ width: `${Math.max(0.5, share * 100)}%` }} />
      </div>
    </div>
  );
}

export function StackDiagramView({ vm, container, facts }: { vm: StackModel; container: StackModel; facts: SandboxFacts | null }) {
  const initial = container.layers.find((layer) => layer.kind === "kernel") ?? null;
  const [selected, setSelected] = useState<StackLayer | null>(initial);
  const mode: DiagramMode = facts ? "live" : "reference";
  // A live layer's text changes with the session; show the current version of the selected one.
  const current = [...vm.layers, ...container.layers].find((layer) => layer.id === selected?.id) ?? selected;

  return (
    <DiagramFrame
      id="stack-diagram"
      title="Virtual machines and containers, layer by layer"
      mode={mode}
      caption={
        <>
          Left: every VM carries a guest OS and kernel, kept apart by the hypervisor. Right: containers share the host&apos;s kernel;
          namespaces isolate them and cgroups limit them. The trade-off: depth of the security boundary against start-up speed and
          density. Hover over a layer, or Tab to it, to read what it does.
        </>
      }
      textVersion={<StackTextVersion vm={vm} container={container} facts={facts} />}
    >
      {/* Side by side when the figure is wide enough (a container query), stacked otherwise. */}
      <div className="grid gap-6 @md:grid-cols-2">
        <Stack model={vm} selectedId={current?.id ?? null} onSelect={setSelected} />
        <Stack model={container} selectedId={current?.id ?? null} onSelect={setSelected} />
      </div>
      <div
        id="stack-layer-detail"
        data-testid="stack-layer-detail"
        className="mt-4 min-h-20 rounded-lg bg-zinc-50 p-3 text-sm leading-6 dark:bg-zinc-900"
      >
        {current ? (
          <>
            <p className="font-semibold">{current.label}</p>
            <p className="text-zinc-700 dark:text-zinc-300">{current.detail}</p>
          </>
        ) : null}
      </div>
      {facts ? <MemoryMeter facts={facts} /> : null}
    </DiagramFrame>
  );
}
