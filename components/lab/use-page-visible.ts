// Whether the learner can see the page (document.visibilityState). The kernel-state stream
// costs the server a probe every 100 ms; a background tab does not need one.

import { useSyncExternalStore } from "react";

function subscribe(onChange: () => void): () => void {
  document.addEventListener("visibilitychange", onChange);
  return () => document.removeEventListener("visibilitychange", onChange);
}

const isVisible = () => document.visibilityState === "visible";
// The server renders nothing that depends on it; the page decides once it runs.
const isVisibleOnServer = () => false;

export function usePageVisible(): boolean {
  return useSyncExternalStore(subscribe, isVisible, isVisibleOnServer);
}
