// The instructor's login: one secret, posted as a plain form to /teach/login, which sets the
// instructor's cookie and sends the browser back to /teach (or back with ?error=…). Plain
// markup with no script of its own, so it works before the page's script has loaded, or without.

import { useId } from "react";

import { Button } from "../ui/button";
import { ERROR_TEXT, HINT_TEXT, INPUT_CLASS, inputBorder } from "./form-field";

export type LoginError = "wrong" | "rate_limited";

export const LOGIN_ERROR_TEXT: Record<LoginError, string> = {
  wrong: "That is not the instructor secret. It is in NSLAB_INSTRUCTOR_SECRET, or printed in the server log when the server first started.",
  rate_limited: "Too many wrong attempts from this address; wait a minute.",
};

export function loginErrorFromQuery(value: string | string[] | undefined): LoginError | null {
  const first = Array.isArray(value) ? value[0] : value;
  return first === "wrong" || first === "rate_limited" ? first : null;
}

export function LoginForm({ error }: { error: LoginError | null }) {
  const id = useId();
  const secretId = `${id}-secret`;
  return (
    <form method="post" action="/teach/login" className="max-w-md space-y-4" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} className="text-xl font-semibold">
        Log in as the instructor
      </h2>
      <div className="space-y-1">
        <label htmlFor={secretId} className="block text-sm font-medium">
          Instructor secret
        </label>
        <input
          id={secretId}
          name="secret"
          type="password"
          required
          autoComplete="current-password"
          aria-invalid={error === "wrong" ? true : undefined}
          aria-describedby={[error ? `${secretId}-error` : null, `${secretId}-hint`].filter(Boolean).join(" ")}
          className={`${INPUT_CLASS} ${inputBorder(error === "wrong" ? "wrong" : null)} font-mono`}
        />
        {error ? (
          <p id={`${secretId}-error`} role="alert" className={ERROR_TEXT}>
            {LOGIN_ERROR_TEXT[error]}
          </p>
        ) : null}
        <p id={`${secretId}-hint`} className={HINT_TEXT}>
          The server&apos;s operator sets it in NSLAB_INSTRUCTOR_SECRET; without one, the server makes one up and prints it in its log
          when it starts.
        </p>
      </div>
      <Button type="submit">Log in</Button>
    </form>
  );
}

/** Logging out is a form post too, so that it cannot be a link someone else makes you follow. */
export function LogoutButton() {
  return (
    <form method="post" action="/teach/logout">
      <Button type="submit" variant="quiet">
        Log out
      </Button>
    </form>
  );
}
