"use client";

// What the instructor does to the whole class: tell everyone something, change everyone's
// limits, close or reopen the class to new learners, give it a new join code, archive it, and
// take its progress away as CSV. Each answer is applied to the dashboard at once; the stream repeats it to every other
// dashboard open on the class.

import { type Dispatch, type FormEvent, useId, useState } from "react";
import { z } from "zod";

import { BROADCAST_MAX, Broadcast, BroadcastText, type ClassDetail, ClassSummary } from "../../common/classroom";
import { Button } from "../ui/button";
import { callApi } from "./api";
import { asSentence } from "./class-form";
import { ConfirmAction } from "./confirm-action";
import type { DashboardAction } from "./dashboard-state";
import { ERROR_TEXT, FormAlert, HINT_TEXT, INPUT_CLASS, inputBorder } from "./form-field";
import { LimitsChangeForm } from "./limits-change-form";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

const PANEL = "space-y-3 rounded-xl border border-zinc-200 p-4 dark:border-zinc-800";

export function ClassControls({ detail, dispatch }: { detail: ClassDetail; dispatch: Dispatch<DashboardAction> }) {
  return (
    <div className="grid grid-cols-1 gap-4 md:grid-cols-2 2xl:grid-cols-3">
      <section className={PANEL}>
        <BroadcastForm classId={detail.class.id} lastBroadcast={detail.lastBroadcast} dispatch={dispatch} disabled={detail.class.state === "archived"} />
      </section>
      <section className={PANEL}>
        <LimitsChangeForm
          endpoint={`/api/classes/${detail.class.id}/limits`}
          base={detail.settings.limits}
          heading="Everyone's limits"
          description="Every running sandbox, and the class's default for sandboxes that start later."
          onApplied={(result) => dispatch({ type: "limits", limits: result.limits })}
        />
      </section>
      <section className={PANEL} aria-labelledby="class-state-heading">
        <ClassStateActions detail={detail} dispatch={dispatch} />
      </section>
    </div>
  );
}

const BroadcastAnswer = z.object({ lastBroadcast: Broadcast });

function BroadcastForm({
  classId,
  lastBroadcast,
  dispatch,
  disabled,
}: {
  classId: string;
  lastBroadcast: Broadcast | null;
  dispatch: Dispatch<DashboardAction>;
  disabled: boolean;
}) {
  const id = useId();
  const [message, setMessage] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<string | null>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (sending) return;
    const read = BroadcastText.safeParse(message);
    if (!read.success) {
      setError(asSentence(read.error.issues[0]?.message ?? "Write a message first"));
      document.getElementById(`${id}-message`)?.focus();
      return;
    }
    setError(null);
    setSending(true);
    const result = await callApi(`/api/classes/${classId}/broadcast`, BroadcastAnswer, { body: { message: read.data } });
    setSending(false);
    if (!result.ok) {
      setError(result.message);
      return;
    }
    dispatch({ type: "broadcast", lastBroadcast: result.value.lastBroadcast });
    setMessage("");
    setSent(`Sent at ${timeFormat.format(result.value.lastBroadcast.sentAtMs)}.`);
  };

  const describedBy = [error ? `${id}-error` : null, `${id}-hint`].filter(Boolean).join(" ");
  return (
    <form onSubmit={submit} noValidate className="space-y-3" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} className="text-base font-semibold">
        Message to everyone
      </h2>
      <div className="space-y-1">
        <label htmlFor={`${id}-message`} className="block text-sm font-medium">
          Message
        </label>
        <textarea
          id={`${id}-message`}
          name="message"
          rows={3}
          maxLength={BROADCAST_MAX}
          value={message}
          onChange={(event) => {
            setMessage(event.target.value);
            if (error) setError(null);
            setSent(null);
          }}
          disabled={disabled}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          className={`${INPUT_CLASS} ${inputBorder(error)} resize-y`}
        />
        {error ? (
          <p id={`${id}-error`} className={ERROR_TEXT}>
            {error}
          </p>
        ) : null}
        <p id={`${id}-hint`} className={HINT_TEXT}>
          Shown at once on every learner&apos;s lesson page. {message.length} / {BROADCAST_MAX} characters.
        </p>
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" disabled={disabled} aria-disabled={sending || undefined}>
          {sending ? "Sending…" : "Send to everyone"}
        </Button>
        <span role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
          {sent ?? ""}
        </span>
      </div>
      <div className="text-sm" data-testid="last-broadcast">
        {lastBroadcast ? (
          <>
            <p className="text-zinc-600 dark:text-zinc-400">
              Last message, sent at <time dateTime={new Date(lastBroadcast.sentAtMs).toISOString()}>{timeFormat.format(lastBroadcast.sentAtMs)}</time>:
            </p>
            <p className="mt-1 rounded-md bg-zinc-100 px-3 py-2 break-words whitespace-pre-wrap dark:bg-zinc-900">{lastBroadcast.text}</p>
          </>
        ) : (
          <p className="text-zinc-600 dark:text-zinc-400">No message sent yet.</p>
        )}
      </div>
    </form>
  );
}

function ClassStateActions({ detail, dispatch }: { detail: ClassDetail; dispatch: Dispatch<DashboardAction> }) {
  const summary = detail.class;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const change = async (action: "close" | "reopen" | "archive") => {
    const result = await callApi(`/api/classes/${summary.id}/${action}`, ClassSummary, { body: {} });
    if (!result.ok) return { ok: false, message: result.message };
    dispatch({ type: "summary", class: result.value });
    return { ok: true, message: action === "archive" ? "The class is archived." : action === "close" ? "Closed to new learners." : "Open again." };
  };

  const newCode = async () => {
    const result = await callApi(`/api/classes/${summary.id}/code`, ClassSummary, { body: {} });
    if (!result.ok) return { ok: false, message: result.message };
    dispatch({ type: "summary", class: result.value });
    return { ok: true, message: `The new code is ${result.value.code}; the old one no longer works.` };
  };

  const simple = async (action: "close" | "reopen") => {
    if (busy) return;
    setBusy(true);
    setError(null);
    const outcome = await change(action);
    setBusy(false);
    if (!outcome.ok) setError(outcome.message);
  };

  return (
    <div className="space-y-3">
      <h2 id="class-state-heading" className="text-base font-semibold">
        The class
      </h2>
      {summary.state === "open" ? (
        <div className="space-y-1">
          <Button variant="quiet" onClick={() => simple("close")} aria-disabled={busy || undefined}>
            Close to new learners
          </Button>
          <p className={HINT_TEXT}>Those who joined keep working; the code stops letting anyone else in.</p>
        </div>
      ) : summary.state === "closed" ? (
        <div className="space-y-1">
          <Button variant="quiet" onClick={() => simple("reopen")} aria-disabled={busy || undefined}>
            Reopen
          </Button>
          <p className={HINT_TEXT}>The code lets learners join again.</p>
        </div>
      ) : (
        <p className="text-sm text-zinc-700 dark:text-zinc-300">This class is archived: its sandboxes have ended, and its progress is kept.</p>
      )}
      {error ? <FormAlert>{error}</FormAlert> : null}
      {summary.state !== "archived" ? (
        <div className="space-y-1">
          <ConfirmAction
            label="New join code…"
            question={`Give ${summary.name} a new join code? The code ${summary.code} and its link stop working at once. Learners who joined keep their place; anyone still to join needs the new code.`}
            confirmLabel="Draw a new code"
            onConfirm={newCode}
          />
          <p className={HINT_TEXT}>When the code has got out to people who should not join.</p>
        </div>
      ) : null}
      {summary.state !== "archived" ? (
        <ConfirmAction
          label="Archive…"
          question={`Archive ${summary.name}? Every learner's sandbox ends now and nobody can join again; the progress stays, to look at and export.`}
          confirmLabel="Archive the class"
          onConfirm={() => change("archive")}
          danger
        />
      ) : null}
      <div className="space-y-1 border-t border-zinc-200 pt-3 dark:border-zinc-800">
        <a
          href={`/api/classes/${summary.id}/progress.csv`}
          download={`${summary.code}-progress.csv`}
          className="inline-flex items-center rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium text-zinc-800 hover:bg-zinc-100 dark:border-zinc-700 dark:text-zinc-200 dark:hover:bg-zinc-800"
          data-testid="export-csv"
        >
          Export progress (CSV)
        </a>
        <p className={HINT_TEXT}>Every learner, every step and when they did it, for a spreadsheet.</p>
      </div>
    </div>
  );
}
