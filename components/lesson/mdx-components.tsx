// How lesson MDX turns into markup: plain elements get the lesson's typography, and the few
// components a lesson may use by name (<Note>) are defined here. A lesson that names any other
// component fails the build, because MDX throws for components it was not given.

import type { MDXComponents } from "mdx/types";
import type { ReactNode } from "react";

export function Note({ title, children }: { title?: string; children?: ReactNode }) {
  return (
    <aside
      role="note"
      className="my-6 rounded-lg border-l-4 border-sky-600 bg-sky-50 px-4 py-3 text-zinc-800 dark:border-sky-400 dark:bg-sky-950/40 dark:text-zinc-200"
    >
      {title ? <p className="mb-1 text-sm font-semibold tracking-wide text-sky-800 uppercase dark:text-sky-300">{title}</p> : null}
      <div className="[&>p]:my-1">{children}</div>
    </aside>
  );
}

export const lessonComponents: MDXComponents = {
  h2: (props) => <h2 className="mt-10 mb-3 scroll-mt-20 text-2xl font-semibold tracking-tight" {...props} />,
  h3: (props) => <h3 className="mt-8 mb-2 scroll-mt-20 text-xl font-semibold" {...props} />,
  p: (props) => <p className="my-4 leading-7" {...props} />,
  a: (props) => <a className="font-medium text-sky-700 underline underline-offset-2 hover:text-sky-900 dark:text-sky-400 dark:hover:text-sky-300" {...props} />,
  ul: (props) => <ul className="my-4 list-disc space-y-1 pl-6 leading-7" {...props} />,
  ol: (props) => <ol className="my-4 list-decimal space-y-1 pl-6 leading-7" {...props} />,
  strong: (props) => <strong className="font-semibold text-zinc-950 dark:text-white" {...props} />,
  blockquote: (props) => <blockquote className="my-6 border-l-4 border-zinc-300 pl-4 italic dark:border-zinc-700" {...props} />,
  // Inline code gets a tinted background; inside a <pre> that styling is reset below, so a
  // code block reads as one surface.
  code: (props) => <code className="rounded bg-zinc-100 px-1 py-0.5 font-mono wrap-anywhere text-[0.9em] dark:bg-zinc-800" {...props} />,
  pre: (props) => (
    <pre
      className="my-5 overflow-x-auto rounded-lg bg-zinc-900 p-4 font-mono text-sm leading-6 text-zinc-100 dark:bg-black/60 dark:ring-1 dark:ring-zinc-800 [&>code]:bg-transparent [&>code]:p-0 [&>code]:text-inherit"
      {...props}
    />
  ),
  Note,
};
