"use client";

// Change the running sandbox's limits as `docker update` would, and see where each one lives:
// the docker flag, the cgroup file on this host (v1 memory.limit_in_bytes or v2 memory.max) and
// the value the server wrote to it. A value that cannot be right is explained at its control and
// nothing is sent; what the server refuses is explained at the control it names.

import { type FormEvent, useEffect, useId, useRef, useState } from "react";

import type { LimitField, Limits } from "../../common/limits";
import type { CgroupFileWrite } from "../../common/protocol";
import { useLab } from "../lab/lab-context";
import { Button } from "../ui/button";
import {
  LIMIT_CONTROLS,
  type LimitControl,
  type LimitErrors,
  type LimitInputs,
  dockerUpdateCommand,
  filesForFlag,
  inputsFromLimits,
  readLimitsForm,
} from "./limits-form";

type Outcome = { kind: "written"; text: string } | { kind: "failed"; text: string } | null;

export function LimitsPanel() {
  const lab = useLab();
  const session = lab.session;
  const current = lab.limits;
  const formId = useId();

  const [inputs, setInputs] = useState<LimitInputs | null>(current ? inputsFromLimits(current.limits) : null);
  // The controls the learner typed in since the last answer; read when new limits arrive.
  const editedRef = useRef<Set<LimitField>>(new Set());
  const [errors, setErrors] = useState<LimitErrors>({});
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [sending, setSending] = useState(false);
  const inputRefs = useRef<Partial<Record<LimitField, HTMLInputElement | null>>>({});

  // New limits from the server (a new session, or an update) replace what the learner has not
  // edited; their own unsent text stays.
  const currentLimits = current?.limits ?? null;
  useEffect(() => {
    if (!currentLimits) return;
    const fresh = inputsFromLimits(currentLimits);
    setInputs((previous) => {
      if (!previous) return fresh;
      const next = { ...fresh };
      for (const field of editedRef.current) next[field] = previous[field];
      return next;
    });
  }, [currentLimits]);

  if (!session || !current || !inputs) {
    return (
      <p className="text-sm text-zinc-600 dark:text-zinc-400" data-testid="limits-panel">
        The limits can be changed once your sandbox is running.
      </p>
    );
  }

  // A tab that only watches shows the limits but cannot change them.
  const ready = lab.state.phase === "ready" && lab.role === "owner";

  const edit = (field: LimitField, text: string) => {
    setInputs({ ...inputs, [field]: text });
    editedRef.current.add(field);
    if (errors[field]) setErrors({ ...errors, [field]: undefined });
    setOutcome(null);
  };

  const focusFirstError = (found: LimitErrors) => {
    const first = LIMIT_CONTROLS.find(({ field }) => found[field]);
    if (first) inputRefs.current[first.field]?.focus();
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // While a change is on its way the controls stay focusable (disabling the focused one
    // would drop keyboard focus to the page); a second submit just waits for the first.
    if (sending) return;
    const read = readLimitsForm(inputs, current.limits, session.host);
    if (!read.ok) {
      setErrors(read.errors);
      setOutcome(read.message ? { kind: "failed", text: read.message } : null);
      focusFirstError(read.errors);
      return;
    }
    setErrors({});
    setSending(true);
    const result = await lab.updateLimits(read.change);
    setSending(false);
    if (result.ok) {
      editedRef.current.clear();
      setInputs(inputsFromLimits(result.limits));
      const written = LIMIT_CONTROLS.filter(({ field }) => read.change[field] !== undefined).flatMap(({ flag }) => filesForFlag(result.cgroupFiles, flag));
      setOutcome({
        kind: "written",
        text: `${dockerUpdateCommand(read.change, session.hostname)}: wrote ${written.map((w) => `${w.value} to ${w.file}`).join(", ") || "the limits"}.`,
      });
    } else if (result.field) {
      setErrors({ [result.field]: result.message });
      setOutcome(null);
      focusFirstError({ [result.field]: result.message });
    } else {
      setOutcome({ kind: "failed", text: result.message });
    }
  };

  const preview = readLimitsForm(inputs, current.limits, session.host);

  return (
    <form onSubmit={submit} noValidate aria-labelledby={`${formId}-title`} data-testid="limits-panel" className="space-y-3">
      <div>
        <h3 id={`${formId}-title`} className="text-sm font-semibold">
          Limits of your sandbox
        </h3>
        <p className="text-xs text-zinc-600 dark:text-zinc-400">
          Change them while it runs, as <code className="font-mono">docker update</code> does. This host uses cgroup v{session.cgroupVersion}; in
          your sandbox the files are under <code className="font-mono">/sys/fs/cgroup/</code>.
        </p>
      </div>

      <div className="grid gap-3 sm:grid-cols-2">
        {LIMIT_CONTROLS.map((control) => (
          <LimitInput
            key={control.field}
            formId={formId}
            control={control}
            value={inputs[control.field]}
            error={errors[control.field] ?? null}
            cgroupVersion={session.cgroupVersion}
            written={filesForFlag(current.cgroupFiles, control.flag)}
            current={current.limits}
            disabled={!ready}
            busy={sending}
            inputRef={(element) => {
              inputRefs.current[control.field] = element;
            }}
            onChange={(text) => edit(control.field, text)}
          />
        ))}
      </div>

      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" disabled={!ready} aria-disabled={sending || undefined}>
          {sending ? "Applying…" : "Apply"}
        </Button>
        <code className="min-w-0 truncate font-mono text-xs text-zinc-600 dark:text-zinc-400" aria-hidden="true">
          {preview.ok ? dockerUpdateCommand(preview.change, session.hostname) : ""}
        </code>
      </div>
      <p
        role="status"
        data-testid="limits-outcome"
        className={`min-h-5 text-sm ${outcome?.kind === "failed" ? "text-rose-700 dark:text-rose-400" : "text-emerald-700 dark:text-emerald-400"}`}
      >
        {outcome?.text ?? ""}
      </p>
    </form>
  );
}

function LimitInput({
  formId,
  control,
  value,
  error,
  cgroupVersion,
  written,
  current,
  disabled,
  busy,
  inputRef,
  onChange,
}: {
  formId: string;
  control: LimitControl;
  value: string;
  error: string | null;
  cgroupVersion: 1 | 2;
  written: readonly CgroupFileWrite[];
  current: Limits;
  disabled: boolean;
  /** A change is being applied: the value cannot change, focus stays. */
  busy: boolean;
  inputRef: (element: HTMLInputElement | null) => void;
  onChange: (text: string) => void;
}) {
  const id = `${formId}-${control.field}`;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const otherVersion = cgroupVersion === 1 ? 2 : 1;
  return (
    <div className="space-y-1 rounded-lg border border-zinc-200 p-3 dark:border-zinc-800" data-testid={`limit-${control.field}`}>
      <label htmlFor={id} className="flex items-baseline justify-between gap-2 text-sm font-medium">
        <span>{control.label}</span>
        <code className="font-mono text-xs text-zinc-600 dark:text-zinc-400">{control.flag}</code>
      </label>
      <input
        id={id}
        ref={inputRef}
        name={control.field}
        value={value}
        onChange={(event) => onChange(event.target.value)}
        disabled={disabled}
        readOnly={busy}
        aria-busy={busy || undefined}
        inputMode={control.field === "cpus" ? "decimal" : "text"}
        autoComplete="off"
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${errorId} ${hintId}` : hintId}
        className={`w-full rounded-md border bg-white px-2 py-1 font-mono text-sm dark:bg-zinc-950 ${
          error ? "border-rose-600 dark:border-rose-400" : "border-zinc-300 dark:border-zinc-700"
        }`}
      />
      {error ? (
        <p id={errorId} className="text-xs text-rose-700 dark:text-rose-400" data-testid={`limit-error-${control.field}`}>
          {error}
        </p>
      ) : null}
      <div id={hintId} className="space-y-0.5 text-xs text-zinc-600 dark:text-zinc-400">
        <p>{control.syntax}.</p>
        {written.length > 0 ? (
          written.map((write) => (
            <p key={write.file} data-testid="cgroup-file">
              <code className="font-mono">{write.file}</code> = <code className="font-mono text-zinc-900 dark:text-zinc-100">{write.value}</code>
            </p>
          ))
        ) : (
          <p>Not written on this host.</p>
        )}
        <p>
          On cgroup v{otherVersion}: <code className="font-mono">{control.otherVersionFile[otherVersion]}</code>
          {control.field === "memorySwapBytes" && current.memorySwapBytes === current.memoryBytes ? " · swap is off" : ""}
        </p>
      </div>
    </div>
  );
}
