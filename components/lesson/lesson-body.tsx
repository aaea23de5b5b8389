// Renders a lesson's MDX on the server, so its text is in the HTML the learner receives before
// any of the lab's JavaScript loads. The lesson pages are generated at build time, which makes
// this the place where a lesson with broken MDX, a bad code block or invalid lab steps fails the
// build, with a message naming the file.

import { evaluate } from "@mdx-js/mdx";
import type { MDXComponents } from "mdx/types";
import * as runtime from "react/jsx-runtime";

import { LessonSourceError, parseLabSteps } from "../../common/lesson";
import { rehypeLessonCode } from "./code-blocks";
import { LabStepList } from "./lab-step-list";
import { lessonComponents } from "./mdx-components";

/** lessons/<slug>.mdx -> <slug>. */
function slugOf(file: string): string {
  return file.replace(/^.*\//, "").replace(/\.mdx$/, "");
}

export async function LessonBody({ body, file }: { body: string; file: string }) {
  let module;
  try {
    module = await evaluate({ value: body, path: file }, { ...runtime, development: false, rehypePlugins: [[rehypeLessonCode, { file }]] });
  } catch (error) {
    if (error instanceof LessonSourceError) throw error;
    // MDX's messages carry the line and column; the body keeps the file's line numbering.
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`${file}: the lesson's MDX does not compile: ${detail}`, { cause: error });
  }
  const { default: Content, labSteps } = module as typeof module & { labSteps?: unknown };
  const steps = parseLabSteps(labSteps, file);
  const lesson = slugOf(file);

  const components: MDXComponents = {
    ...lessonComponents,
    // <LabSteps /> in a lesson lists that lesson's own steps; the server ticks them.
    LabSteps: () => <LabStepList lesson={lesson} steps={steps.map(({ id, title }) => ({ id, title }))} />,
  };
  return <Content components={components} />;
}
