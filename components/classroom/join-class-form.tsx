"use client";

// A learner joins a class: a code (typed, or given by the link /join/<CODE>) and the name the
// class should know them by. A real form that posts to /join, so that it works before (or
// without) the script; with the script it checks the fields first, asks /api/join, and keeps
// what was typed when the server refuses.

import { useRouter } from "next/navigation";
import { type FormEvent, useId, useRef, useState } from "react";

import { DISPLAY_NAME_MAX, type JoinRefusal, JoinResult, joinRefusalText, normalizeJoinCode } from "../../common/classroom";
import { Button } from "../ui/button";
import { callApi, fieldMessage } from "./api";
import { FormAlert, TextField } from "./form-field";
import { type JoinErrors, type JoinField, readJoinForm, refusalField, safeLessonPath } from "./join-form";

export function JoinClassForm({
  fixedCode,
  initialCode = "",
  refusal,
}: {
  /** The code from the link, already checked: shown, not asked for. */
  fixedCode?: string;
  /** A code to start the code field with (a link whose code was mistyped). */
  initialCode?: string;
  /** Why the server sent a page without script back here. */
  refusal: JoinRefusal | null;
}) {
  const id = useId();
  const router = useRouter();
  const [code, setCode] = useState(fixedCode ?? normalizeJoinCode(initialCode));
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<JoinErrors>({});
  // A refusal from the redirect is shown until the learner tries again.
  const [alert, setAlert] = useState<string | null>(refusal ? joinRefusalText[refusal] : null);
  // The control the alert is about, which it also describes.
  const [alertField, setAlertField] = useState<JoinField | null>(refusal ? refusalField(refusal) : null);
  const [sending, setSending] = useState(false);
  const codeRef = useRef<HTMLInputElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);
  const alertId = `${id}-alert`;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (sending) return;
    const read = readJoinForm(code, name);
    if (!read.ok) {
      setErrors(read.errors);
      setAlert(null);
      (read.errors.code && !fixedCode ? codeRef : nameRef).current?.focus();
      return;
    }
    setErrors({});
    setAlert(null);
    setSending(true);
    const result = await callApi("/api/join", JoinResult, { body: { code: read.code, name: read.name } });
    if (result.ok) {
      const path = safeLessonPath(result.value.lessonPath);
      if (path) {
        // Stays "Joining…" until the lesson page has replaced this one.
        router.push(path);
        return;
      }
      setSending(false);
      setAlert("The server sent this page somewhere it does not lead. Ask your instructor for the class's link.");
      setAlertField(null);
      return;
    }
    setSending(false);
    if (result.field === "name") {
      setErrors({ name: fieldMessage(result.message, result.field) });
      nameRef.current?.focus();
      return;
    }
    // The class refused (no class has the code, it is closed or full): an alert, announced as it
    // appears, as the page without script shows it; the code's control points to it.
    setAlert(result.message);
    setAlertField(result.field === "code" ? "code" : null);
    if (result.field === "code" && !fixedCode) codeRef.current?.focus();
  };

  // The refusal also describes the field it is about.
  const describe = (field: JoinField) => (alert && alertField === field ? alertId : undefined);

  return (
    <form method="post" action="/join" onSubmit={submit} noValidate className="space-y-5" aria-describedby={alert ? alertId : undefined}>
      {alert ? <FormAlert id={alertId}>{alert}</FormAlert> : null}

      {fixedCode ? (
        <div>
          <p className="text-sm font-medium text-zinc-700 dark:text-zinc-300">Class code</p>
          <p
            data-testid="join-page-code"
            className="font-mono text-5xl font-bold tracking-[0.2em] break-all text-zinc-950 sm:text-6xl dark:text-white"
          >
            {fixedCode}
          </p>
          <input type="hidden" name="code" value={fixedCode} />
        </div>
      ) : (
        <TextField
          id={`${id}-code`}
          inputRef={codeRef}
          name="code"
          label="Class code"
          value={code}
          onChange={(event) => {
            setCode(normalizeJoinCode(event.target.value));
            if (errors.code) setErrors({ ...errors, code: undefined });
          }}
          error={errors.code}
          hint="6 letters and digits, from your instructor's screen. Case and dashes do not matter."
          aria-describedby={[errors.code ? `${id}-code-error` : null, describe("code"), `${id}-code-hint`].filter(Boolean).join(" ")}
          required
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          maxLength={32}
          className="[&_input]:font-mono [&_input]:text-2xl [&_input]:tracking-widest sm:[&_input]:text-2xl"
        />
      )}

      <TextField
        id={`${id}-name`}
        inputRef={nameRef}
        name="name"
        label="Your name"
        value={name}
        onChange={(event) => {
          setName(event.target.value);
          if (errors.name) setErrors({ ...errors, name: undefined });
        }}
        error={errors.name}
        hint={`How the class and your instructor will see you; up to ${DISPLAY_NAME_MAX} characters.`}
        aria-describedby={[errors.name ? `${id}-name-error` : null, describe("name"), `${id}-name-hint`].filter(Boolean).join(" ")}
        required
        autoComplete="nickname"
        maxLength={DISPLAY_NAME_MAX}
      />

      <Button type="submit" aria-disabled={sending || undefined} className="w-full justify-center py-2.5 text-base sm:w-auto">
        {sending ? "Joining…" : "Join the class"}
      </Button>
    </form>
  );
}
