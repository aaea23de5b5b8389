// The start-up timeline as text: a table of the launcher's steps with their times and the
// `docker run` step each belongs to, the hops nslab skips, and the typical figures. No d3.

import type { DiagramMode } from "./diagram-frame";
import { DOCKER_STAGES, TYPICAL_STARTUPS, type TimelineBar, formatMs } from "./startup-model";

export function StartupTextVersion({ bars, mode }: { bars: readonly TimelineBar[]; mode: DiagramMode }) {
  const totalMs = bars.at(-1)?.endMs ?? 0;
  return (
    <>
      <p>
        {mode === "live" ? `Your sandbox's launcher took ${formatMs(totalMs)}` : `Reference, not live: a sandbox's launcher took ${formatMs(totalMs)}`}{" "}
        from its start to running the shell. Docker&apos;s first hops are not made here:{" "}
        {DOCKER_STAGES.filter((stage) => stage.nslabSkips !== null)
          .map((stage) => `step ${stage.n}, ${stage.title} (${stage.nslabSkips})`)
          .join("; ")}
        .
      </p>
      <div className="overflow-x-auto">
        <table className="min-w-full text-left text-sm">
          <caption className="sr-only">The launcher&apos;s steps in order</caption>
          <thead>
            <tr>
              <th scope="col" className="pr-3 font-semibold">
                Step
              </th>
              <th scope="col" className="pr-3 font-semibold">
                docker run step
              </th>
              <th scope="col" className="pr-3 text-right font-semibold">
                Took
              </th>
              <th scope="col" className="text-right font-semibold">
                Done at
              </th>
            </tr>
          </thead>
          <tbody>
            {bars.map((bar) => (
              <tr key={bar.step}>
                <th scope="row" className="pr-3 font-normal">
                  {bar.label}
                </th>
                <td className="pr-3">{bar.stage === null ? "—" : `${bar.stage}. ${DOCKER_STAGES[bar.stage - 1]?.title ?? ""}`}</td>
                <td className="pr-3 text-right font-mono">{formatMs(bar.endMs - bar.startMs)}</td>
                <td className="text-right font-mono">{formatMs(bar.endMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p>
        Typical figures for comparison:{" "}
        {TYPICAL_STARTUPS.map(
          (range) =>
            `${range.label}, ${range.lowMs === range.highMs ? `about ${formatMs(range.lowMs)}` : `${formatMs(range.lowMs)} to ${formatMs(range.highMs)}`}`,
        ).join("; ")}
        .
      </p>
    </>
  );
}
