// The card's markup, rendered on the server as a page would be: what tests and the instructor
// rely on (its test ids and data attributes), and that a learner's own text stays text.

import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { LearnerCard } from "./learner-card";
import { MINUTE, T0, makeCard, makeDetail, memberId } from "./test-fixtures";

const steps = makeDetail().steps;

function render(card: ReturnType<typeof makeCard>, stuck = false): string {
  return renderToStaticMarkup(createElement(LearnerCard, { card, steps, stuck, nowMs: T0 + 3 * MINUTE, onOpen: () => {} }));
}

describe("a learner's card", () => {
  it("carries the ids and attributes the dashboard's tests find it by", () => {
    const html = render(makeCard({ memberId: memberId(7), status: "idle", steps: [{ id: "see-namespaces", completedAtMs: T0 }] }));
    expect(html).toContain('data-testid="learner-card"');
    expect(html).toContain(`data-member-id="${memberId(7)}"`);
    expect(html).toContain('data-status="idle"');
    expect(html).toMatch(/data-testid="card-steps"[^>]*>1 \/ 3</);
    expect(html).toContain('data-testid="card-screen"');
  });

  it("shows a name and a screen full of markup as text", () => {
    const html = render(makeCard({ name: '<img src=x onerror="alert(1)">', screen: ["<script>alert(2)</script>"] }));
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;img src=x");
    expect(html).toContain("&lt;script&gt;alert(2)&lt;/script&gt;");
  });

  it("says why an ended sandbox ended", () => {
    const html = render(makeCard({ status: "ended", sandbox: null, endReason: "Nobody typed for 30 minutes." }));
    expect(html).toContain("Ended: Nobody typed for 30 minutes.");
  });

  it("flags a stuck learner and OOM kills in words", () => {
    const html = render(makeCard({ oomKills: 2 }), true);
    expect(html).toContain(">stuck<");
    expect(html).toContain("2 OOM kills");
  });
});
