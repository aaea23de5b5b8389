"use client";

// A new class: its name, the lesson it works through, every learner's sandbox limits (docker's
// syntax, starting from the solo lab's own), how many may join, and how long sandboxes live.
// Each problem is explained beside its control, whether the page found it or the server did,
// and focus goes to the first one; a class made opens its dashboard.

import { useRouter } from "next/navigation";
import { type FormEvent, useId, useState } from "react";

import { CLASS_NAME_MAX, ClassDetail, MAX_CLASS_CAPACITY } from "../../common/classroom";
import type { LimitField, Limits } from "../../common/limits";
import { Button } from "../ui/button";
import { callApi, fieldMessage } from "./api";
import {
  CLASS_FORM_ORDER,
  type ClassFormErrors,
  type ClassFormField,
  type ClassFormInputs,
  DURATION_CONTROLS,
  classFieldFromApi,
  defaultClassInputs,
  readClassForm,
} from "./class-form";
import { ERROR_TEXT, FieldMessages, FormAlert, INPUT_CLASS, TextField, describedBy, inputBorder } from "./form-field";
import { LIMIT_FIELDS } from "./limits-change";

export interface LessonChoice {
  slug: string;
  title: string;
}

const LIMIT_HINTS: Record<LimitField, string> = {
  memoryBytes: "A size, like 256m or 1g.",
  memorySwapBytes: "Memory plus swap: equal to memory for no swap, or -1 for unlimited.",
  cpus: "A share of one core, like 0.5, or more than 1.",
  pids: "Processes and threads at once; -1 for no limit.",
};

/** `defaults`: the lab's own limits, which the form starts from (GET /api/classes gives them). */
export function CreateClassForm({ lessons, defaults }: { lessons: readonly LessonChoice[]; defaults: Limits }) {
  const id = useId();
  const router = useRouter();
  const [inputs, setInputs] = useState<ClassFormInputs>(() => defaultClassInputs(lessons[0]?.slug ?? "", defaults));
  // Memory + swap follows memory (no swap, as in the solo lab) until someone changes it.
  const [swapEdited, setSwapEdited] = useState(false);
  const [errors, setErrors] = useState<ClassFormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const controlId = (field: ClassFormField) => `${id}-${field}`;
  const focusFirst = (found: ClassFormErrors) => {
    const first = CLASS_FORM_ORDER.find((field) => found[field]);
    if (first) document.getElementById(controlId(first))?.focus();
  };
  const clearError = (field: ClassFormField) => {
    if (errors[field]) setErrors({ ...errors, [field]: undefined });
  };

  const setField = (field: Exclude<keyof ClassFormInputs, "limits">, value: string) => {
    setInputs({ ...inputs, [field]: value });
    clearError(field);
  };
  const setLimit = (field: LimitField, value: string) => {
    const limits = { ...inputs.limits, [field]: value };
    if (field === "memoryBytes" && !swapEdited) limits.memorySwapBytes = value;
    if (field === "memorySwapBytes") setSwapEdited(true);
    setInputs({ ...inputs, limits });
    clearError(field);
    if (field === "memoryBytes") clearError("memorySwapBytes");
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (sending) return;
    setFormError(null);
    const read = readClassForm(inputs, defaults);
    if (!read.ok) {
      setErrors(read.errors);
      focusFirst(read.errors);
      return;
    }
    setErrors({});
    setSending(true);
    const result = await callApi("/api/classes", ClassDetail, { body: read.request });
    if (result.ok) {
      router.push(`/teach/classes/${result.value.class.id}`);
      return;
    }
    setSending(false);
    const field = classFieldFromApi(result.field ?? undefined);
    if (field) {
      const message = fieldMessage(result.message, result.field);
      setErrors({ [field]: message });
      focusFirst({ [field]: message });
    } else {
      setFormError(result.message);
    }
  };

  return (
    <form onSubmit={submit} noValidate className="space-y-6" aria-labelledby={`${id}-heading`} data-testid="create-class-form">
      <h2 id={`${id}-heading`} className="text-xl font-semibold">
        New class
      </h2>
      {formError ? <FormAlert>{formError}</FormAlert> : null}

      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <TextField
          id={controlId("name")}
          name="name"
          label="Name"
          value={inputs.name}
          onChange={(event) => setField("name", event.target.value)}
          error={errors.name}
          hint="What you and your learners see, like “Tuesday group”."
          maxLength={CLASS_NAME_MAX}
          required
          autoComplete="off"
        />
        <div className="space-y-1">
          <label htmlFor={controlId("lesson")} className="block text-sm font-medium">
            Lesson
          </label>
          <select
            id={controlId("lesson")}
            name="lesson"
            value={inputs.lesson}
            onChange={(event) => setField("lesson", event.target.value)}
            aria-invalid={errors.lesson ? true : undefined}
            aria-describedby={describedBy(controlId("lesson"), errors.lesson, "hint")}
            className={`${INPUT_CLASS} ${inputBorder(errors.lesson)}`}
          >
            {lessons.map((lesson) => (
              <option key={lesson.slug} value={lesson.slug}>
                {lesson.title}
              </option>
            ))}
          </select>
          <FieldMessages id={controlId("lesson")} error={errors.lesson} hint="Learners who join open this lesson, with its lab steps." />
        </div>
      </div>

      <fieldset className="space-y-3 rounded-xl border border-zinc-200 p-4 dark:border-zinc-800">
        <legend className="px-1 text-base font-semibold">Each learner&apos;s sandbox</legend>
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          As <code className="font-mono">docker run</code> takes them; the defaults are the solo lab&apos;s. You can change them for
          everyone, or for one learner, while the class runs.
        </p>
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4">
          {LIMIT_FIELDS.map(({ field, label, flag }) => (
            <TextField
              key={field}
              id={controlId(field)}
              name={field}
              label={
                <span className="flex items-baseline justify-between gap-2">
                  <span>{label}</span>
                  <code className="font-mono text-xs text-zinc-600 dark:text-zinc-400">{flag}</code>
                </span>
              }
              value={inputs.limits[field]}
              onChange={(event) => setLimit(field, event.target.value)}
              error={errors[field]}
              hint={LIMIT_HINTS[field]}
              inputMode={field === "cpus" ? "decimal" : "text"}
              autoComplete="off"
              spellCheck={false}
              className="[&_input]:font-mono"
            />
          ))}
        </div>
      </fieldset>

      <fieldset className="space-y-3 rounded-xl border border-zinc-200 p-4 dark:border-zinc-800">
        <legend className="px-1 text-base font-semibold">Learners and time</legend>
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4">
          <TextField
            id={controlId("capacity")}
            name="capacity"
            label="Capacity"
            value={inputs.capacity}
            onChange={(event) => setField("capacity", event.target.value)}
            error={errors.capacity}
            hint={`Learners who may join, and so sandboxes at once; at most ${MAX_CLASS_CAPACITY}.`}
            inputMode="numeric"
            autoComplete="off"
          />
          {DURATION_CONTROLS.map((control) => (
            <TextField
              key={control.field}
              id={controlId(control.field)}
              name={control.field}
              label={`${control.label} (minutes)`}
              value={inputs[control.field]}
              onChange={(event) => setField(control.field, event.target.value)}
              error={errors[control.field]}
              hint={control.hint}
              inputMode="decimal"
              autoComplete="off"
            />
          ))}
        </div>
      </fieldset>

      {Object.values(errors).some(Boolean) ? (
        <p className={ERROR_TEXT} role="alert">
          Some fields need a change before the class can be made; each says why.
        </p>
      ) : null}
      <Button type="submit" aria-disabled={sending || undefined} disabled={lessons.length === 0}>
        {sending ? "Creating…" : "Create the class"}
      </Button>
    </form>
  );
}
