"use client";

// The clock the dashboard judges "stuck" and "4 min ago" by: a reading every `periodMs`, not a
// render per millisecond, so 200 cards redraw for the time a few times a minute at most.

import { useEffect, useState } from "react";

export function useNow(periodMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}
