"use client";

// How many containers like the learner's fit this host, against how many VMs: bars on a log
// scale (the two counts are orders of magnitude apart), the counts, and a choice of application
// size that is added to both sides alike. An estimate, and labelled as one.

import { scaleLog } from "d3";
import { useId, useState } from "react";

import { DiagramFrame, type DiagramMode } from "./diagram-frame";
import { DensityTextVersion } from "./density-estimate-text";
import { APP_SIZES_BYTES, REFERENCE_DENSITY, VM_OS_OVERHEAD_BYTES, estimateDensity, formatBytes, formatCount } from "./density-model";

const SPAN = 1000;

function CountBar({ label, count, countLow, fill }: { label: string; count: number; countLow?: number; fill: string }) {
  const top = 1_000_000;
  const log = scaleLog().domain([1, top]).range([0, SPAN]).clamp(true);
  const width = (n: number) => Math.max(4, log(Math.max(1, n)));
  return (
    <li className="grid grid-cols-[1fr_auto] items-center gap-x-2 text-sm @md:grid-cols-[minmax(7rem,10rem)_1fr_6.5rem]">
      <span className="order-1">{label}</span>
      <svg viewBox={`0 0 ${SPAN} 20`} preserveAspectRatio="none" className="order-3 col-span-2 h-5 w-full @md:order-2 @md:col-span-1" aria-hidden="true">
        <rect x={0} y={9} width={SPAN} height={2} className="fill-zinc-100 dark:fill-zinc-800" />
        {countLow !== undefined ? <rect x={0} y={3} width={width(countLow)} height={14} rx={2} className={`${fill} opacity-100`} /> : null}
        <rect x={0} y={3} width={width(count)} height={14} rx={2} className={`${fill} ${countLow !== undefined ? "opacity-50" : ""}`} />
      </svg>
      <span className="order-2 text-right font-mono tabular-nums @md:order-3" data-testid={`density-${label.startsWith("VM") ? "vms" : "containers"}`}>
        {countLow !== undefined && countLow !== count ? `${formatCount(countLow)}–${formatCount(count)}` : formatCount(count)}
      </span>
    </li>
  );
}

export function DensityEstimateView({
  hostMemoryBytes,
  footprintBytes,
}: {
  /** Both null: no live session, so the lesson's reference figures are drawn. */
  hostMemoryBytes: number | null;
  footprintBytes: number | null;
}) {
  const selectId = useId();
  const [appBytes, setAppBytes] = useState<number>(0);
  const live = hostMemoryBytes !== null && footprintBytes !== null && footprintBytes > 0;
  const mode: DiagramMode = live ? "live" : "reference";
  const estimate = live ? estimateDensity({ hostMemoryBytes, containerFootprintBytes: footprintBytes, appBytes }) : null;

  return (
    <DiagramFrame
      id="density-estimate"
      title={live ? "How many would fit this host? (estimate)" : "How many fit one machine? (reference)"}
      mode={mode}
      caption={
        live ? (
          <>
            An estimate, from memory alone: this host&apos;s memory divided by your sandbox&apos;s measured use, against the same
            memory divided by {formatBytes(VM_OS_OVERHEAD_BYTES.low)}–{formatBytes(VM_OS_OVERHEAD_BYTES.high)} of guest OS per VM
            (the lesson&apos;s figure). CPU, disk and the host&apos;s own needs are ignored; log scale.
          </>
        ) : (
          <>
            The lesson&apos;s example, not a measurement: on the same hardware, about {REFERENCE_DENSITY.vms} VMs or{" "}
            {REFERENCE_DENSITY.containers} containers. Connect the lab to estimate from your own sandbox. Log scale.
          </>
        )
      }
      textVersion={
        <DensityTextVersion mode={mode} estimate={estimate} hostMemoryBytes={hostMemoryBytes} footprintBytes={footprintBytes} appBytes={appBytes} />
      }
    >
      {live && estimate ? (
        <>
          <p className="mb-3 text-sm leading-6 text-zinc-700 dark:text-zinc-300">
            This host: <span className="font-mono">{formatBytes(hostMemoryBytes)}</span>. Your sandbox now:{" "}
            <span className="font-mono" data-testid="density-footprint">
              {formatBytes(footprintBytes)}
            </span>
            .
          </p>
          <ul className="space-y-1" aria-label="Instances that fit, estimated">
            <CountBar label="Containers like yours" count={estimate.containers} fill="fill-emerald-600 dark:fill-emerald-400" />
            <CountBar label="VMs (1–2 GB OS each)" count={estimate.vmsHigh} countLow={estimate.vmsLow} fill="fill-rose-500 dark:fill-rose-400" />
          </ul>
          <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
            <label htmlFor={selectId}>Add an application that needs</label>
            <select
              id={selectId}
              value={appBytes}
              onChange={(event) => setAppBytes(Number(event.target.value))}
              className="rounded border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-700 dark:bg-zinc-900"
            >
              {APP_SIZES_BYTES.map((bytes) => (
                <option key={bytes} value={bytes}>
                  {bytes === 0 ? "nothing more" : formatBytes(bytes)}
                </option>
              ))}
            </select>
            <span className="text-zinc-600 dark:text-zinc-400">to each, in both models</span>
          </div>
        </>
      ) : (
        <ul className="space-y-1" aria-label="Instances that fit, reference example">
          <CountBar label="Containers" count={REFERENCE_DENSITY.containers} fill="fill-emerald-600 dark:fill-emerald-400" />
          <CountBar label="VMs" count={REFERENCE_DENSITY.vms} fill="fill-rose-500 dark:fill-rose-400" />
        </ul>
      )}
    </DiagramFrame>
  );
}
