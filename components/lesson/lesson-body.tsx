// Renders a lesson's MDX on the server, so its text is in the HTML the learner receives before
// any of the lab's JavaScript loads. The lesson pages are generated at build time, which makes
// this the place where a lesson with broken MDX fails the build.

import { evaluate } from "@mdx-js/mdx";
import * as runtime from "react/jsx-runtime";

import { lessonComponents } from "./mdx-components";

export async function LessonBody({ body, file }: { body: string; file: string }) {
  let Content;
  try {
    ({ default: Content } = await evaluate({ value: body, path: file }, { ...runtime, development: false }));
  } catch (error) {
    // MDX's messages carry the line and column; the body keeps the file's line numbering.
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`${file}: the lesson's MDX does not compile: ${detail}`, { cause: error });
  }
  return <Content components={lessonComponents} />;
}
