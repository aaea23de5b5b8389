// The "New class" form's rules, apart from its markup: what each control starts with, how its
// text becomes a ClassCreateRequest (minutes in the form, seconds on the wire; docker's syntax
// for limits), and which control a message belongs to, whether the page or the server found it.

import { CLASS_DEFAULTS, ClassCreateRequest, MAX_CLASS_CAPACITY } from "../../common/classroom";
import type { LimitField, Limits } from "../../common/limits";
import { type LimitInputs, LAB_DEFAULT_LIMITS, limitFieldFromApi, limitInputs, readAllLimits } from "./limits-change";

export interface ClassFormInputs {
  name: string;
  lesson: string;
  limits: LimitInputs;
  capacity: string;
  reconnectGraceMin: string;
  sessionLifetimeMin: string;
  idleTimeoutMin: string;
}

/** A control of the form: one of its own, or one of the four limits. */
export type ClassFormField = Exclude<keyof ClassFormInputs, "limits"> | LimitField;
export type ClassFormErrors = Partial<Record<ClassFormField, string>>;

/** The durations, as the form asks for them: minutes, within the bounds ClassSettings sets. */
export const DURATION_CONTROLS = [
  {
    field: "reconnectGraceMin",
    wire: "reconnectGraceS",
    label: "Reconnect grace",
    hint: "How long a sandbox waits for a learner whose page closed (a reload, a lost connection). 0 ends it at once.",
    minMinutes: 0,
    maxMinutes: 24 * 60,
  },
  {
    field: "sessionLifetimeMin",
    wire: "sessionLifetimeS",
    label: "Session lifetime",
    hint: "A sandbox ends this long after it started, whatever it is doing.",
    minMinutes: 1,
    maxMinutes: 7 * 24 * 60,
  },
  {
    field: "idleTimeoutMin",
    wire: "idleTimeoutS",
    label: "Idle timeout",
    hint: "A sandbox nobody typed into for this long ends.",
    minMinutes: 1,
    maxMinutes: 24 * 60,
  },
] as const;

function minutesText(seconds: number): string {
  return String(Math.round((seconds / 60) * 100) / 100);
}

export function defaultClassInputs(lesson: string, limits: Readonly<Limits> = LAB_DEFAULT_LIMITS): ClassFormInputs {
  return {
    name: "",
    lesson,
    limits: limitInputs(limits),
    capacity: String(CLASS_DEFAULTS.capacity),
    reconnectGraceMin: minutesText(CLASS_DEFAULTS.reconnectGraceS),
    sessionLifetimeMin: minutesText(CLASS_DEFAULTS.sessionLifetimeS),
    idleTimeoutMin: minutesText(CLASS_DEFAULTS.idleTimeoutS),
  };
}

/** "a class name cannot be empty" → "A class name cannot be empty.": schema text as a sentence. */
export function asSentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export type ClassFormRead = { ok: true; request: ClassCreateRequest } | { ok: false; errors: ClassFormErrors };

export function readClassForm(inputs: ClassFormInputs, defaults: Readonly<Limits> = LAB_DEFAULT_LIMITS): ClassFormRead {
  const errors: ClassFormErrors = {};

  const limits = readAllLimits(inputs.limits, defaults);
  if (!limits.ok) Object.assign(errors, limits.errors);

  const capacityText = inputs.capacity.trim();
  const capacity = Number(capacityText);
  if (!/^\d+$/.test(capacityText) || capacity < 1 || capacity > MAX_CLASS_CAPACITY) {
    errors.capacity = `Give a whole number of learners from 1 to ${MAX_CLASS_CAPACITY}.`;
  }

  const durations: Partial<Record<(typeof DURATION_CONTROLS)[number]["wire"], number>> = {};
  for (const control of DURATION_CONTROLS) {
    const text = inputs[control.field].trim();
    const minutes = Number(text);
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || minutes < control.minMinutes || minutes > control.maxMinutes) {
      errors[control.field] = `Give a number of minutes from ${control.minMinutes} to ${control.maxMinutes}, like ${minutesText(CLASS_DEFAULTS[control.wire])}.`;
    } else {
      durations[control.wire] = Math.round(minutes * 60);
    }
  }

  if (inputs.lesson === "") errors.lesson = "Choose the lesson the class works through.";

  // The name's rules (tidied white space, a length, no control characters) are the schema's own.
  const candidate = {
    name: inputs.name,
    lesson: inputs.lesson,
    limits: limits.ok ? limits.limits : undefined,
    capacity,
    ...durations,
  };
  const parsed = ClassCreateRequest.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = classFieldFromApi(issue.path.map(String).join("."));
      if (field && !errors[field]) errors[field] = asSentence(issue.message);
    }
  }

  if (Object.keys(errors).length > 0 || !parsed.success) {
    // An issue the form has no control for would otherwise leave it refusing in silence.
    if (Object.keys(errors).length === 0) errors.name = "The class could not be read; check every field.";
    return { ok: false, errors };
  }
  return { ok: true, request: parsed.data };
}

/** The control a server's `field` (or a schema issue's path) names, or null for none. */
export function classFieldFromApi(field: string | undefined): ClassFormField | null {
  if (field === undefined) return null;
  const limit = limitFieldFromApi(field);
  if (limit) return limit;
  const wire = DURATION_CONTROLS.find((control) => control.wire === field);
  if (wire) return wire.field;
  if (field === "name" || field === "lesson" || field === "capacity") return field;
  return null;
}

/** The order of the controls on the page, for moving focus to the first one at fault. */
export const CLASS_FORM_ORDER: readonly ClassFormField[] = [
  "name",
  "lesson",
  "memoryBytes",
  "memorySwapBytes",
  "cpus",
  "pids",
  "capacity",
  "reconnectGraceMin",
  "sessionLifetimeMin",
  "idleTimeoutMin",
];
