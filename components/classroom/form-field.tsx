// One labelled control of the classroom's forms, with its hint and its error tied to it by
// aria-describedby (error first, so a screen reader says what is wrong before how to write it),
// and the classes every control shares. Plain markup: it renders on the server, so the forms
// that post without script look the same as the ones that do not.

import type { InputHTMLAttributes, ReactNode, Ref } from "react";

export const INPUT_CLASS =
  "w-full rounded-md border bg-white px-3 py-2 text-base text-zinc-900 placeholder:text-zinc-500 disabled:opacity-60 sm:text-sm dark:bg-zinc-950 dark:text-zinc-100 dark:placeholder:text-zinc-400";

export function inputBorder(error: string | null | undefined): string {
  return error ? "border-rose-600 dark:border-rose-400" : "border-zinc-400 dark:border-zinc-600";
}

export const ERROR_TEXT = "text-sm text-rose-700 dark:text-rose-300";
export const HINT_TEXT = "text-xs text-zinc-600 dark:text-zinc-400";

/** The ids an input's aria-describedby lists: its error (when it has one), then its hint. */
export function describedBy(id: string, error: string | null | undefined, hint: ReactNode): string | undefined {
  const ids = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean);
  return ids.length > 0 ? ids.join(" ") : undefined;
}

export function FieldMessages({ id, error, hint }: { id: string; error?: string | null; hint?: ReactNode }) {
  return (
    <>
      {error ? (
        <p id={`${id}-error`} className={ERROR_TEXT}>
          {error}
        </p>
      ) : null}
      {hint ? (
        <p id={`${id}-hint`} className={HINT_TEXT}>
          {hint}
        </p>
      ) : null}
    </>
  );
}

type TextFieldProps = {
  id: string;
  label: ReactNode;
  error?: string | null;
  hint?: ReactNode;
  inputRef?: Ref<HTMLInputElement>;
  className?: string;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "className">;

export function TextField({ id, label, error, hint, inputRef, className = "", ...input }: TextFieldProps) {
  return (
    <div className={`space-y-1 ${className}`}>
      <label htmlFor={id} className="block text-sm font-medium">
        {label}
      </label>
      <input
        id={id}
        ref={inputRef}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        className={`${INPUT_CLASS} ${inputBorder(error)}`}
        {...input}
      />
      <FieldMessages id={id} error={error} hint={hint} />
    </div>
  );
}

/** An error for a whole form, or a refusal: announced as it appears. */
export function FormAlert({ id, children }: { id?: string; children: ReactNode }) {
  return (
    <p
      id={id}
      role="alert"
      className="rounded-md border border-rose-300 bg-rose-50 px-3 py-2 text-sm text-rose-900 dark:border-rose-800 dark:bg-rose-950/60 dark:text-rose-100"
    >
      {children}
    </p>
  );
}
