// How lesson MDX turns into markup: plain elements get the lesson's typography, fenced code
// blocks become <CodeBlock> (Copy, and Run where the lesson allows it), and the components a
// lesson may use by name are listed here. A lesson that names any other component fails the
// build, because MDX throws for components it was not given. <LabSteps /> is bound per lesson
// in lesson-body.tsx, since it lists that lesson's own steps.

import type { MDXComponents } from "mdx/types";
import { type ReactElement, type ReactNode, isValidElement } from "react";

import { NO_CODE_META, parseCodeMeta } from "../../common/lesson";
import { DensityEstimate } from "../diagrams/density-estimate";
import { StackDiagram } from "../diagrams/stack-diagram";
import { StartupTimeline } from "../diagrams/startup-timeline";
import { KeyIdea, Note, Pitfall, ProPractice } from "./callouts";
import { CodeBlock } from "./code-block";
import { LimitFiles } from "./limit-files";

type CodeElementProps = { className?: string; "data-meta"?: string; children?: ReactNode };

/**
 * A fenced block arrives as <pre><code className="language-x" data-meta="…">text</code></pre>.
 * This runs on the server, where the <code> element is still a plain element whose props can be
 * read, and hands the client component plain strings.
 */
function Pre({ children }: { children?: ReactNode }) {
  if (!isValidElement(children)) return <pre>{children}</pre>;
  const props = (children as ReactElement<CodeElementProps>).props;
  const code = typeof props.children === "string" ? props.children.replace(/\n$/, "") : "";
  const language = /(?:^|\s)language-(\S+)/.exec(props.className ?? "")?.[1] ?? null;
  // rehypeLessonCode has checked the meta already; a failure here is a broken invariant.
  const meta = props["data-meta"] ? parseCodeMeta(props["data-meta"]) : NO_CODE_META;
  return <CodeBlock code={code} language={language} meta={meta} />;
}

export const lessonComponents: MDXComponents = {
  h2: (props) => <h2 className="mt-10 mb-3 scroll-mt-20 text-2xl font-semibold tracking-tight" {...props} />,
  h3: (props) => <h3 className="mt-8 mb-2 scroll-mt-20 text-xl font-semibold" {...props} />,
  p: (props) => <p className="my-4 leading-7" {...props} />,
  a: (props) => <a className="font-medium text-sky-700 underline underline-offset-2 hover:text-sky-900 dark:text-sky-400 dark:hover:text-sky-300" {...props} />,
  ul: (props) => <ul className="my-4 list-disc space-y-1 pl-6 leading-7" {...props} />,
  ol: (props) => <ol className="my-4 list-decimal space-y-2 pl-6 leading-7" {...props} />,
  strong: (props) => <strong className="font-semibold text-zinc-950 dark:text-white" {...props} />,
  blockquote: (props) => <blockquote className="my-6 border-l-4 border-zinc-300 pl-4 italic dark:border-zinc-700" {...props} />,
  code: (props) => <code className="rounded bg-zinc-100 px-1 py-0.5 font-mono wrap-anywhere text-[0.9em] dark:bg-zinc-800" {...props} />,
  pre: Pre,
  Note,
  KeyIdea,
  Pitfall,
  ProPractice,
  LimitFiles,
  StackDiagram,
  StartupTimeline,
  DensityEstimate,
};
