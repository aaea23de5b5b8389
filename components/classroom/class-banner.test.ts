// The learner's class banner, rendered inside a lab as the lesson page has it.

import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { type LabApi, LabContext } from "../lab/lab-context";
import { ClassBanner } from "./class-banner";
import { T0 } from "./test-fixtures";

function render(lab: Partial<LabApi> | null): string {
  const banner = createElement(ClassBanner);
  return renderToStaticMarkup(lab ? createElement(LabContext.Provider, { value: lab as LabApi }, banner) : banner);
}

describe("the class banner", () => {
  it("shows nothing but its empty live region for a learner working alone", () => {
    const html = render({ classroom: null, broadcast: null });
    expect(html).not.toContain("Class:");
    expect(html).toContain('aria-live="polite"');
    expect(render(null)).not.toContain("Class:");
  });

  it("names the class and the learner, as text", () => {
    const html = render({ classroom: { classId: "00000000000000aa", className: "Tuesday <b>group</b>", displayName: "Ada" }, broadcast: null });
    expect(html).toContain("Class: <span");
    expect(html).toContain("Tuesday &lt;b&gt;group&lt;/b&gt;");
    expect(html).toContain("you are <span");
    expect(html).toContain("Ada");
  });

  it("shows the instructor's message inside the live region", () => {
    const html = render({
      classroom: { classId: "00000000000000aa", className: "Tuesday", displayName: "Ada" },
      broadcast: { text: "Break until 11:00", sentAtMs: T0 },
    });
    expect(html).toMatch(/aria-live="polite"[\s\S]*data-testid="class-broadcast"[^>]*>Break until 11:00</);
    expect(html).toContain(`dateTime="${new Date(T0).toISOString()}"`);
  });
});
