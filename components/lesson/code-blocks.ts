// The fenced code blocks of a lesson, as MDX sees them: a rehype plugin that checks each block's
// info string (see parseCodeMeta in common/lesson.ts) and hands it to the page's <pre> as a
// `data-meta` prop, and a collector that lists every block with its meta and line, for the test
// that runs a lesson's commands in a real sandbox.
//
// A bad info string or a destructive block of several lines is an error of the content, so it
// throws a LessonSourceError naming the file and line: the page build fails, not a learner's
// click.

import { compile } from "@mdx-js/mdx";

import { type CodeMeta, CodeMetaError, LessonSourceError, checkRunnableCode, parseCodeMeta } from "../../common/lesson";

/** The few hast shapes the plugin touches (a full hast typing would add a dependency for three fields). */
interface HastNode {
  type: string;
  tagName?: string;
  value?: string;
  properties?: Record<string, unknown>;
  children?: HastNode[];
  data?: { meta?: string | null };
  position?: { start: { line: number } };
}

export interface LessonCodeBlock {
  /** The block's text, without its final newline. */
  code: string;
  language: string | null;
  meta: CodeMeta;
  /** 1-based line of the opening fence in the lesson file. */
  line: number;
}

function textOf(node: HastNode): string {
  if (node.type === "text") return node.value ?? "";
  return (node.children ?? []).map(textOf).join("");
}

function languageOf(code: HastNode): string | null {
  const classes = code.properties?.className;
  const list = Array.isArray(classes) ? classes : [];
  const language = list.find((name): name is string => typeof name === "string" && name.startsWith("language-"));
  return language ? language.slice("language-".length) : null;
}

/** Calls `onBlock` for every `<pre><code>` of the tree, in document order. */
function visitCodeBlocks(tree: HastNode, onBlock: (pre: HastNode, code: HastNode) => void): void {
  const walk = (node: HastNode) => {
    for (const child of node.children ?? []) {
      if (node.tagName === "pre" && child.type === "element" && child.tagName === "code") onBlock(node, child);
      walk(child);
    }
  };
  walk(tree);
}

function blockOf(code: HastNode, file: string): LessonCodeBlock {
  const line = code.position?.start.line ?? 0;
  const text = textOf(code).replace(/\n$/, "");
  try {
    const meta = parseCodeMeta(code.data?.meta);
    checkRunnableCode(text, meta);
    return { code: text, language: languageOf(code), meta, line };
  } catch (error) {
    if (error instanceof CodeMetaError) throw new LessonSourceError(file, undefined, `code block at line ${line}: ${error.message}`);
    throw error;
  }
}

/**
 * Rehype plugin for the lesson pages: checks every code block's info string and passes it on to
 * the <pre> component as `data-meta` on the <code> element (MDX drops it otherwise).
 */
export function rehypeLessonCode(options: { file: string }) {
  return (tree: HastNode) => {
    visitCodeBlocks(tree, (_pre, code) => {
      blockOf(code, options.file);
      code.properties = { ...code.properties, dataMeta: code.data?.meta ?? "" };
    });
  };
}

/** Every code block of a lesson body, checked, in document order. */
export async function collectCodeBlocks(body: string, file: string): Promise<LessonCodeBlock[]> {
  const blocks: LessonCodeBlock[] = [];
  const collect = () => (tree: HastNode) => visitCodeBlocks(tree, (_pre, code) => blocks.push(blockOf(code, file)));
  await compile({ value: body, path: file }, { rehypePlugins: [collect] });
  return blocks;
}
