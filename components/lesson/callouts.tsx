// The three kinds of aside a lesson uses, each with its own colour and a label a screen reader
// announces: a key idea to keep, a production pitfall to avoid, and a practice professionals
// follow. Server components: plain markup, no script.

import type { ReactNode } from "react";

type CalloutTone = "key" | "pitfall" | "practice" | "note";

const tones: Record<CalloutTone, { box: string; label: string }> = {
  key: {
    box: "border-sky-600 bg-sky-50 dark:border-sky-400 dark:bg-sky-950/40",
    label: "text-sky-800 dark:text-sky-300",
  },
  pitfall: {
    box: "border-amber-600 bg-amber-50 dark:border-amber-400 dark:bg-amber-950/30",
    label: "text-amber-900 dark:text-amber-300",
  },
  practice: {
    box: "border-emerald-600 bg-emerald-50 dark:border-emerald-400 dark:bg-emerald-950/30",
    label: "text-emerald-900 dark:text-emerald-300",
  },
  note: {
    box: "border-zinc-400 bg-zinc-50 dark:border-zinc-600 dark:bg-zinc-900",
    label: "text-zinc-700 dark:text-zinc-300",
  },
};

function Callout({ tone, label, children }: { tone: CalloutTone; label: string; children?: ReactNode }) {
  const style = tones[tone];
  return (
    <aside aria-label={label} className={`my-6 rounded-lg border-l-4 px-4 py-3 text-zinc-800 dark:text-zinc-200 ${style.box}`}>
      <p className={`mb-1 text-sm font-semibold tracking-wide uppercase ${style.label}`}>{label}</p>
      <div className="[&>p]:my-2 [&>p:first-child]:mt-0 [&>p:last-child]:mb-0">{children}</div>
    </aside>
  );
}

/** An idea the rest of the course builds on. */
export function KeyIdea({ children }: { children?: ReactNode }) {
  return (
    <Callout tone="key" label="Key idea">
      {children}
    </Callout>
  );
}

/** A mistake that hurts in production, and how to avoid it. */
export function Pitfall({ children, title }: { children?: ReactNode; title?: string }) {
  return (
    <Callout tone="pitfall" label={title ? `Production pitfall: ${title}` : "Production pitfall"}>
      {children}
    </Callout>
  );
}

/** What experienced teams do. */
export function ProPractice({ children }: { children?: ReactNode }) {
  return (
    <Callout tone="practice" label="Pro practice">
      {children}
    </Callout>
  );
}

/** A plain aside with an optional title. */
export function Note({ title, children }: { title?: string; children?: ReactNode }) {
  return (
    <Callout tone="note" label={title ?? "Note"}>
      {children}
    </Callout>
  );
}
