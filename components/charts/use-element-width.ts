// The width of a chart's box, as it changes: charts draw at their real pixel size (crisp
// one-pixel lines, text that does not scale), while their height is fixed by the caller so
// nothing moves when the data arrives.

import { useEffect, useRef, useState } from "react";

export function useElementWidth<Element extends HTMLElement>() {
  const ref = useRef<Element>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new ResizeObserver((entries) => {
      const box = entries[0]?.contentRect;
      // A hidden tab reports 0; the chart keeps its last drawing until it is shown again.
      if (box && box.width > 0) setWidth(Math.floor(box.width));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}
