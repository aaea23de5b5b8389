// The lab steps each lesson declares (`export const labSteps = [...]` in its MDX file), loaded
// by the server so that it, not the page, decides when a step is done. The same file the page
// renders is evaluated here, so the two can never disagree.
import fs from "node:fs";
import path from "node:path";

import { evaluate } from "@mdx-js/mdx";
import * as runtime from "react/jsx-runtime";

import type { LabStep } from "../../common/lab-steps";
import { Course, parseLabSteps, splitFrontmatter } from "../../common/lesson";

export interface LessonSteps {
  slug: string;
  steps: LabStep[];
}

export class LessonCatalog {
  private readonly cache = new Map<string, Promise<LabStep[]>>();

  constructor(private readonly lessonsDir: string) {}

  /** The course's lesson slugs, in order. */
  lessonSlugs(): string[] {
    const file = path.join(this.lessonsDir, "course.json");
    const parsed = Course.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
    if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    return parsed.data.lessons;
  }

  /** The lab steps of a lesson ([] for a lesson without any, or one that does not exist). */
  steps(slug: string): Promise<LabStep[]> {
    let loading = this.cache.get(slug);
    if (!loading) {
      loading = this.load(slug);
      this.cache.set(slug, loading);
      // A failed load is not remembered: the next session tries again.
      loading.catch(() => this.cache.delete(slug));
    }
    return loading;
  }

  private async load(slug: string): Promise<LabStep[]> {
    if (!this.lessonSlugs().includes(slug)) return [];
    const file = path.join(this.lessonsDir, `${slug}.mdx`);
    const { body } = splitFrontmatter(fs.readFileSync(file, "utf8"), `lessons/${slug}.mdx`);
    const module = (await evaluate(body, { ...runtime, baseUrl: `file://${file}` })) as { labSteps?: unknown };
    return parseLabSteps(module.labSteps, `lessons/${slug}.mdx`);
  }
}
