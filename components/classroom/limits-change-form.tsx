"use client";

// A change of limits as `docker update` makes one, for the whole class or for one learner: the
// controls left blank stay as they are. What the page can check (docker's syntax and rules) is
// explained at the control before anything is sent; what the server refuses is explained at the
// control it names; and the sandboxes that could not take the change are listed by name, each
// with its reason (one that uses more memory than the new limit keeps its old one).

import { type FormEvent, useId, useRef, useState } from "react";

import { LimitsChangeResult } from "../../common/classroom";
import type { LimitField, Limits } from "../../common/limits";
import { Button } from "../ui/button";
import { callApi, fieldMessage } from "./api";
import { FormAlert, TextField } from "./form-field";
import {
  BLANK_LIMIT_INPUTS,
  LIMIT_FIELDS,
  type LimitErrors,
  type LimitInputs,
  limitFieldFromApi,
  limitFlags,
  limitText,
  readLimitsChange,
  summarizeLimitsResult,
} from "./limits-change";

type Outcome =
  | { kind: "applied"; text: string; failed: ReturnType<typeof summarizeLimitsResult>["failed"] }
  | { kind: "failed"; text: string }
  | null;

export function LimitsChangeForm({
  endpoint,
  base,
  heading,
  description,
  headingLevel = "h2",
  onApplied,
}: {
  /** POST target taking a LimitsChangeRequest and answering a LimitsChangeResult. */
  endpoint: string;
  /** The limits the change applies to, shown in each control's hint. */
  base: Limits;
  heading: string;
  description: string;
  headingLevel?: "h2" | "h3";
  onApplied?: (result: LimitsChangeResult) => void;
}) {
  const id = useId();
  const [inputs, setInputs] = useState<LimitInputs>(BLANK_LIMIT_INPUTS);
  const [errors, setErrors] = useState<LimitErrors>({});
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [sending, setSending] = useState(false);
  const inputRefs = useRef<Partial<Record<LimitField, HTMLInputElement | null>>>({});
  const Heading = headingLevel;

  const focusFirst = (found: LimitErrors) => {
    const first = LIMIT_FIELDS.find(({ field }) => found[field]);
    if (first) inputRefs.current[first.field]?.focus();
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (sending) return;
    const read = readLimitsChange(inputs, base);
    if (!read.ok) {
      setErrors(read.errors);
      setOutcome(read.message ? { kind: "failed", text: read.message } : null);
      focusFirst(read.errors);
      return;
    }
    setErrors({});
    setOutcome(null);
    setSending(true);
    const result = await callApi(endpoint, LimitsChangeResult, { body: { limits: read.change } });
    setSending(false);
    if (!result.ok) {
      const field = limitFieldFromApi(result.field ?? undefined);
      if (field) {
        const message = fieldMessage(result.message, result.field);
        setErrors({ [field]: message });
        focusFirst({ [field]: message });
      } else {
        setOutcome({ kind: "failed", text: result.message });
      }
      return;
    }
    const summary = summarizeLimitsResult(result.value);
    const sandboxes = (n: number) => `${n} sandbox${n === 1 ? "" : "es"}`;
    setOutcome({
      kind: "applied",
      text:
        result.value.results.length === 0
          ? `${limitFlags(read.change)}: no sandbox is running; new sandboxes start with these limits.`
          : `${limitFlags(read.change)}: applied to ${sandboxes(summary.applied)}${summary.failed.length > 0 ? `; ${sandboxes(summary.failed.length)} refused it` : ""}.`,
      failed: summary.failed,
    });
    setInputs(BLANK_LIMIT_INPUTS);
    onApplied?.(result.value);
  };

  return (
    <form onSubmit={submit} noValidate aria-labelledby={`${id}-heading`} className="@container space-y-3" data-testid="limits-change-form">
      <div>
        <Heading id={`${id}-heading`} className="text-base font-semibold">
          {heading}
        </Heading>
        <p className="text-sm text-zinc-600 dark:text-zinc-400">{description}</p>
      </div>
      <div className="grid grid-cols-1 gap-3 @md:grid-cols-2">
        {LIMIT_FIELDS.map(({ field, label, flag }) => (
          <TextField
            key={field}
            id={`${id}-${field}`}
            inputRef={(element) => {
              inputRefs.current[field] = element;
            }}
            name={field}
            label={
              <span className="flex items-baseline justify-between gap-2">
                <span>{label}</span>
                <code className="font-mono text-xs text-zinc-600 dark:text-zinc-400">{flag}</code>
              </span>
            }
            value={inputs[field]}
            onChange={(event) => {
              setInputs({ ...inputs, [field]: event.target.value });
              if (errors[field]) setErrors({ ...errors, [field]: undefined });
            }}
            error={errors[field]}
            hint={`Now ${limitText(field, base[field])}; blank leaves it.`}
            inputMode={field === "cpus" ? "decimal" : "text"}
            autoComplete="off"
            spellCheck={false}
            readOnly={sending}
            className="[&_input]:font-mono"
          />
        ))}
      </div>
      <Button type="submit" aria-disabled={sending || undefined}>
        {sending ? "Applying…" : "Apply"}
      </Button>
      <div role="status" aria-live="polite" className="space-y-2 text-sm">
        {outcome?.kind === "applied" ? <p className="text-emerald-800 dark:text-emerald-300">{outcome.text}</p> : null}
      </div>
      {outcome?.kind === "failed" ? <FormAlert>{outcome.text}</FormAlert> : null}
      {outcome?.kind === "applied" && outcome.failed.length > 0 ? (
        <div role="alert" className="rounded-md border border-amber-400 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950/60 dark:text-amber-50">
          <p className="font-medium">These sandboxes kept their old limits:</p>
          <ul className="mt-1 list-disc space-y-0.5 pl-5" data-testid="limits-failures">
            {outcome.failed.map((entry) => (
              <li key={entry.memberId}>
                <span className="font-medium">{entry.name}</span>: {entry.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </form>
  );
}
