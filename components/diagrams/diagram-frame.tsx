// The frame every lesson diagram shares: a title, a badge that says whether the figures are the
// learner's own ("live") or reference figures, the drawing, a caption, and a text version for
// screen readers and for anyone who prefers reading to looking.

import type { ReactNode } from "react";

export type DiagramMode = "live" | "reference";

export function ModeBadge({ mode }: { mode: DiagramMode }) {
  return mode === "live" ? (
    <span
      data-testid="diagram-mode"
      className="inline-flex items-center gap-1 rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-semibold text-emerald-900 dark:bg-emerald-900/50 dark:text-emerald-200"
    >
      <span aria-hidden="true" className="size-1.5 rounded-full bg-emerald-600 dark:bg-emerald-400" />
      live: your sandbox
    </span>
  ) : (
    <span
      data-testid="diagram-mode"
      className="inline-flex items-center rounded-full bg-zinc-200 px-2 py-0.5 text-xs font-semibold text-zinc-800 dark:bg-zinc-800 dark:text-zinc-200"
    >
      reference, not live
    </span>
  );
}

export function DiagramFrame({
  id,
  title,
  mode,
  caption,
  textVersion,
  textVersionOpen = false,
  children,
}: {
  id: string;
  title: string;
  mode: DiagramMode;
  caption: ReactNode;
  /** The same content as text; shown open while the drawing loads. */
  textVersion: ReactNode;
  textVersionOpen?: boolean;
  children?: ReactNode;
}) {
  return (
    <figure
      aria-labelledby={`${id}-title`}
      data-testid={id}
      data-mode={mode}
      className="@container my-8 rounded-xl border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-800 dark:bg-zinc-900/60"
    >
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <p id={`${id}-title`} className="text-base font-semibold">
          {title}
        </p>
        <ModeBadge mode={mode} />
      </div>
      {children}
      <figcaption className="mt-3 text-sm leading-6 text-zinc-600 dark:text-zinc-400">{caption}</figcaption>
      <details open={textVersionOpen} className="mt-3 text-sm leading-6">
        <summary className="cursor-pointer rounded font-medium text-sky-700 dark:text-sky-400">Text version of this figure</summary>
        <div className="mt-2 space-y-2 text-zinc-700 dark:text-zinc-300">{textVersion}</div>
      </details>
    </figure>
  );
}
