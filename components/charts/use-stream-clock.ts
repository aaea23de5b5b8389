// "Now" on the server's clock, which the samples carry: the charts' right edge. The stream sends
// only changes, so an idle sandbox sends nothing for a while; this clock keeps the time axis
// moving meanwhile. The page's own clock may be off from the server's; the offset comes from the
// latest sample, so the newest point is always at (or just left of) the right edge.
//
// This hook is the only place the charts read a clock; the drawing code takes `now` as data.

import { useEffect, useRef, useState } from "react";

export const CLOCK_TICK_MS = 1000;

/**
 * @param running false once the session is gone: the clock stops where the stream ended, so the
 *   last minutes (an OOM kill that ended the shell, say) stay on the charts instead of sliding
 *   off them.
 */
export function useStreamClock(latestSampleAtMs: number | null, running = true): number | null {
  const offsetRef = useRef<number | null>(null);
  const [now, setNow] = useState<number | null>(null);

  useEffect(() => {
    if (latestSampleAtMs === null) return;
    offsetRef.current = latestSampleAtMs - Date.now();
    setNow(latestSampleAtMs);
  }, [latestSampleAtMs]);

  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => {
      const offset = offsetRef.current;
      if (offset !== null) setNow(Date.now() + offset);
    }, CLOCK_TICK_MS);
    return () => clearInterval(timer);
  }, [running]);

  return now;
}
