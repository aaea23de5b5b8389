"use client";

// A button for something that cannot be undone (end a learner's sandbox, archive a class): the
// first press asks, in words that say what will happen, and only the second does it. Focus moves
// to the question's confirm button and back to the first button when it is cancelled, so a
// keyboard user never loses their place.

import { useEffect, useId, useRef, useState } from "react";

import { Button } from "../ui/button";

type Phase = "idle" | "asking" | "busy";

export function ConfirmAction({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled = false,
  danger = false,
}: {
  label: string;
  /** What will happen, as a question. */
  question: string;
  confirmLabel: string;
  /** Does it; resolves with a sentence saying how it went (or why it did not). */
  onConfirm: () => Promise<{ ok: boolean; message: string }>;
  disabled?: boolean;
  danger?: boolean;
}) {
  const id = useId();
  const [phase, setPhase] = useState<Phase>("idle");
  const [result, setResult] = useState<{ ok: boolean; message: string } | null>(null);
  const returnFocus = useRef(false);
  // By id: the shared Button takes no ref.
  const openerId = `${id}-open`;
  const confirmId = `${id}-confirm`;

  useEffect(() => {
    if (phase === "asking") document.getElementById(confirmId)?.focus();
    if (phase === "idle" && returnFocus.current) {
      returnFocus.current = false;
      document.getElementById(openerId)?.focus();
    }
  }, [phase, openerId, confirmId]);

  const confirm = async () => {
    if (phase === "busy") return;
    setPhase("busy");
    const outcome = await onConfirm();
    setResult(outcome);
    returnFocus.current = true;
    setPhase("idle");
  };

  const dangerClass = "bg-rose-700 text-white hover:bg-rose-800 dark:bg-rose-400 dark:text-zinc-950 dark:hover:bg-rose-300";

  return (
    <div className="space-y-2">
      {phase === "idle" ? (
        <Button
          id={openerId}
          variant="quiet"
          disabled={disabled}
          onClick={() => {
            setResult(null);
            setPhase("asking");
          }}
        >
          {label}
        </Button>
      ) : (
        <div role="group" aria-labelledby={`${id}-question`} className="space-y-2 rounded-md border border-zinc-300 p-3 dark:border-zinc-700">
          <p id={`${id}-question`} className="text-sm">
            {question}
          </p>
          <div className="flex flex-wrap gap-2">
            <Button id={confirmId} onClick={confirm} aria-disabled={phase === "busy" || undefined} className={danger ? dangerClass : ""}>
              {phase === "busy" ? "Working…" : confirmLabel}
            </Button>
            <Button
              variant="quiet"
              onClick={() => {
                returnFocus.current = true;
                setPhase("idle");
              }}
              disabled={phase === "busy"}
            >
              Cancel
            </Button>
          </div>
        </div>
      )}
      <p role="status" className={`text-sm ${result?.ok === false ? "text-rose-700 dark:text-rose-300" : "text-emerald-800 dark:text-emerald-300"}`}>
        {result?.message ?? ""}
      </p>
    </div>
  );
}
