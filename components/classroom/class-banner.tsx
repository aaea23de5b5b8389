"use client";

// What a learner in a class sees of it on their lesson page: a slim line naming the class and
// the name they joined under, and the instructor's latest message, kept in view at the foot of
// the screen until they dismiss it. A newer message shows again, however many were dismissed.
// Nothing here renders for a learner working alone.

import { useState } from "react";

import { useOptionalLab } from "../lab/lab-context";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function ClassBanner() {
  const lab = useOptionalLab();
  // The message dismissed last, by when it was sent: a message is new when its time differs.
  const [dismissedAtMs, setDismissedAtMs] = useState<number | null>(null);
  const classroom = lab?.classroom ?? null;
  const broadcast = lab?.broadcast ?? null;
  const showBroadcast = broadcast !== null && broadcast.sentAtMs !== dismissedAtMs;

  return (
    <>
      {classroom ? (
        <div className="border-b border-sky-200 bg-sky-50 text-sm text-sky-950 dark:border-sky-900 dark:bg-sky-950/60 dark:text-sky-50" data-testid="class-banner">
          <p className="mx-auto max-w-[1600px] truncate px-4 py-1.5 lg:px-8">
            Class: <span className="font-semibold">{classroom.className}</span> · you are <span className="font-semibold">{classroom.displayName}</span>
          </p>
        </div>
      ) : null}
      {/* The live region is on the page from the start, so that a message arriving in it is
          announced; it takes no room while empty. */}
      <div aria-live="polite" className="fixed inset-x-3 bottom-3 z-30 sm:inset-x-auto sm:left-4 sm:w-[min(32rem,calc(100vw-2rem))]">
        {showBroadcast ? (
          <div
            role="group"
            aria-label="Message from your instructor"
            className="rounded-xl border-2 border-amber-600 bg-amber-50 p-4 text-amber-950 shadow-xl dark:border-amber-400 dark:bg-zinc-900 dark:text-amber-50"
          >
            <div className="flex items-start justify-between gap-3">
              <p className="text-xs font-semibold tracking-wide uppercase">
                From your instructor ·{" "}
                <time dateTime={new Date(broadcast.sentAtMs).toISOString()}>{timeFormat.format(broadcast.sentAtMs)}</time>
              </p>
              <button
                type="button"
                onClick={() => setDismissedAtMs(broadcast.sentAtMs)}
                className="-mt-1 -mr-1 rounded-md px-2 py-1 text-sm font-medium hover:bg-amber-100 dark:hover:bg-zinc-800"
              >
                Dismiss<span className="sr-only"> the message</span>
              </button>
            </div>
            <p data-testid="class-broadcast" className="mt-1 text-base leading-6 break-words whitespace-pre-wrap">
              {broadcast.text}
            </p>
          </div>
        ) : null}
      </div>
    </>
  );
}
