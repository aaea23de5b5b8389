"use client";

// Every learner of the class as a card, in a grid that gives each card the room it needs (one
// column on a phone, many on a projector), sorted and filtered as the instructor chooses.
// "Large text" scales the whole grid (cards are sized in em), for the back of the room.

import { useEffect, useId, useMemo, useState } from "react";

import type { ClassDetail } from "../../common/classroom";
import { CARD_FILTERS, CARD_SORTS, STUCK_AFTER_MS, type CardFilter, type CardSort, filterCounts, isStuck, viewCards } from "./card-view";
import { LearnerCard } from "./learner-card";

/** Where the instructor's choice of large text is remembered between visits. */
const LARGE_TEXT_KEY = "nslab.teach.largeText";

export function LearnerGrid({
  detail,
  nowMs,
  onOpen,
}: {
  detail: ClassDetail;
  nowMs: number;
  onOpen: (memberId: string, opener: HTMLButtonElement) => void;
}) {
  const id = useId();
  const [sort, setSort] = useState<CardSort>("name");
  const [filter, setFilter] = useState<CardFilter>("all");
  const [largeText, setLargeText] = useState(false);
  useEffect(() => {
    setLargeText(window.localStorage.getItem(LARGE_TEXT_KEY) === "on");
  }, []);
  const toggleLargeText = () => {
    const next = !largeText;
    setLargeText(next);
    window.localStorage.setItem(LARGE_TEXT_KEY, next ? "on" : "off");
  };

  const context = useMemo(() => ({ stepCount: detail.steps.length, nowMs }), [detail.steps.length, nowMs]);
  const counts = useMemo(() => filterCounts(detail.learners, context), [detail.learners, context]);
  const cards = useMemo(() => viewCards(detail.learners, { sort, filter, ...context }), [detail.learners, sort, filter, context]);

  return (
    <section aria-labelledby={`${id}-heading`} className="space-y-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h2 id={`${id}-heading`} className="text-xl font-semibold">
          Learners
          <span className="ml-2 text-base font-normal text-zinc-600 dark:text-zinc-400">
            {cards.length === detail.learners.length ? detail.learners.length : `${cards.length} of ${detail.learners.length}`}
          </span>
        </h2>
        <div className="flex flex-wrap items-end gap-3">
          <div className="space-y-1">
            <label htmlFor={`${id}-sort`} className="block text-sm font-medium">
              Sort by
            </label>
            <select
              id={`${id}-sort`}
              value={sort}
              onChange={(event) => setSort(event.target.value as CardSort)}
              className="rounded-md border border-zinc-400 bg-white px-2 py-1.5 text-sm dark:border-zinc-600 dark:bg-zinc-950"
            >
              {CARD_SORTS.map((option) => (
                <option key={option.id} value={option.id}>
                  {option.label}
                </option>
              ))}
            </select>
          </div>
          <button
            type="button"
            aria-pressed={largeText}
            onClick={toggleLargeText}
            className={`rounded-md border px-3 py-1.5 text-sm font-medium ${
              largeText
                ? "border-sky-700 bg-sky-700 text-white dark:border-sky-400 dark:bg-sky-400 dark:text-zinc-950"
                : "border-zinc-300 text-zinc-800 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-200 dark:hover:bg-zinc-800"
            }`}
            data-testid="large-text"
          >
            Large text
          </button>
        </div>
      </div>

      <fieldset>
        <legend className="sr-only">Show</legend>
        <div className="flex flex-wrap gap-2">
          {CARD_FILTERS.map((option) => {
            const selected = option.id === filter;
            return (
              <button
                key={option.id}
                type="button"
                aria-pressed={selected}
                onClick={() => setFilter(option.id)}
                data-testid={`filter-${option.id}`}
                className={`rounded-full border px-3 py-1 text-sm font-medium ${
                  selected
                    ? "border-zinc-900 bg-zinc-900 text-white dark:border-zinc-100 dark:bg-zinc-100 dark:text-zinc-950"
                    : "border-zinc-300 text-zinc-800 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-200 dark:hover:bg-zinc-800"
                }`}
              >
                {option.label} <span className="tabular-nums">({counts[option.id]})</span>
              </button>
            );
          })}
        </div>
        <p className="mt-2 text-xs text-zinc-600 dark:text-zinc-400">
          Stuck: at their sandbox with no step done for {STUCK_AFTER_MS / 60_000} minutes, since joining or since their last step.
        </p>
      </fieldset>

      {cards.length === 0 ? (
        <p className="rounded-xl border border-dashed border-zinc-300 p-6 text-zinc-700 dark:border-zinc-700 dark:text-zinc-300">
          {detail.learners.length === 0
            ? `Nobody has joined yet. Learners open the link above, or go to /join and type the code ${detail.class.code}.`
            : "No learner matches this filter."}
        </p>
      ) : (
        <ul
          className={`grid gap-[0.75em] ${largeText ? "text-[1.375rem]" : "text-base"}`}
          style={{ gridTemplateColumns: "repeat(auto-fill, minmax(min(100%, 17em), 1fr))" }}
          data-large-text={largeText}
        >
          {cards.map((card) => (
            <li key={card.memberId} className="min-w-0">
              <LearnerCard card={card} steps={detail.steps} stuck={isStuck(card, context)} nowMs={nowMs} onOpen={onOpen} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
