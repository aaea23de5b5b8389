"use client";

// What the kernel sees while the learner types, under the terminal: their namespaces, their
// cgroup's counters as charts, and the limits they can change. Tabs, because the terminal must
// keep most of the room, and a Hide button that gives it all of it back; all three tabs stay
// mounted (a hidden tab keeps its form text and its place), and the charts, the only part that
// needs d3, load after the lesson text and the terminal, in their own chunk.

import dynamic from "next/dynamic";
import { type KeyboardEvent, useId, useRef, useState } from "react";

import { NamespaceInspector } from "../inspector/namespace-inspector";
import { LimitsPanel } from "../limits/limits-panel";

/** Exactly the charts' height, so the panel does not jump when their code arrives. */
function ChartsLoading() {
  return (
    <p className="h-[28rem] text-sm text-zinc-600 dark:text-zinc-400" role="status">
      Loading the charts…
    </p>
  );
}

const ResourceCharts = dynamic(() => import("../charts/resource-charts").then((module) => module.ResourceCharts), {
  ssr: false,
  loading: ChartsLoading,
});

const TABS = [
  { id: "namespaces", label: "Namespaces" },
  { id: "resources", label: "Resources" },
  { id: "limits", label: "Limits" },
] as const;
type TabId = (typeof TABS)[number]["id"];

export function LiveViews() {
  const baseId = useId();
  const [selected, setSelected] = useState<TabId>("namespaces");
  const [open, setOpen] = useState(true);
  const tabRefs = useRef<Partial<Record<TabId, HTMLButtonElement | null>>>({});

  // The ARIA tabs pattern: arrow keys move between tabs (and select), Tab moves into the panel.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const index = TABS.findIndex((tab) => tab.id === selected);
    const next =
      event.key === "ArrowRight" ? (index + 1) % TABS.length
      : event.key === "ArrowLeft" ? (index - 1 + TABS.length) % TABS.length
      : event.key === "Home" ? 0
      : event.key === "End" ? TABS.length - 1
      : null;
    if (next === null) return;
    event.preventDefault();
    const tab = TABS[next];
    if (!tab) return;
    setSelected(tab.id);
    setOpen(true);
    tabRefs.current[tab.id]?.focus();
  };

  // A fixed height beside the lesson, so the terminal above keeps its size as tabs change; on a
  // phone the page scrolls, and each tab takes the height it needs.
  return (
    <section
      id="live-views"
      tabIndex={-1}
      aria-label="What the kernel sees"
      data-open={open}
      className={`flex min-h-0 flex-col overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900 ${open ? "lg:h-[20rem]" : ""}`}
    >
      <div className="flex shrink-0 items-end justify-between gap-2 border-b border-zinc-200 px-2 pt-2 dark:border-zinc-800">
        <div role="tablist" aria-label="Live views" onKeyDown={onKeyDown} className="flex gap-1">
          {TABS.map((tab) => {
            const isSelected = tab.id === selected;
            return (
              <button
                key={tab.id}
                ref={(element) => {
                  tabRefs.current[tab.id] = element;
                }}
                type="button"
                role="tab"
                id={`${baseId}-tab-${tab.id}`}
                aria-selected={isSelected && open}
                aria-controls={`${baseId}-panel-${tab.id}`}
                tabIndex={isSelected ? 0 : -1}
                onClick={() => {
                  setSelected(tab.id);
                  setOpen(true);
                }}
                className={`-mb-px rounded-t-md border-b-2 px-3 py-1.5 text-sm font-medium ${
                  isSelected
                    ? "border-sky-600 text-zinc-900 dark:border-sky-400 dark:text-zinc-100"
                    : "border-transparent text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100"
                }`}
              >
                {tab.label}
              </button>
            );
          })}
        </div>
        <button
          type="button"
          aria-expanded={open}
          aria-controls={TABS.map((tab) => `${baseId}-panel-${tab.id}`).join(" ")}
          onClick={() => setOpen(!open)}
          className="mb-1 rounded-md px-2 py-1 text-xs font-medium text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
        >
          {open ? "Hide" : "Show"}
          <span className="sr-only"> live views</span>
        </button>
      </div>
      {TABS.map((tab) => (
        <div
          key={tab.id}
          role="tabpanel"
          id={`${baseId}-panel-${tab.id}`}
          aria-labelledby={`${baseId}-tab-${tab.id}`}
          hidden={!open || tab.id !== selected}
          tabIndex={0}
          className="min-h-0 flex-1 overflow-y-auto p-3"
        >
          {tab.id === "namespaces" ? <NamespaceInspector /> : tab.id === "resources" ? <ResourceCharts /> : <LimitsPanel />}
        </div>
      ))}
    </section>
  );
}
