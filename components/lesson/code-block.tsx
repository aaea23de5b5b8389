"use client";

// A lesson's code block: the text, a Copy button for shell blocks, and — for blocks the lesson
// marks `run` — a Run button that types the command into the learner's terminal. Run presses
// Enter only for harmless commands; for a block marked `destructive` it types the command and
// leaves Enter to the learner, who has read it first.

import { useCallback, useEffect, useRef, useState } from "react";

import { type CodeMeta, commandLines } from "../../common/lesson";
import { useOptionalLab } from "../lab/lab-context";

const SHELL_LANGUAGES = new Set(["sh", "bash", "shell", "console"]);

type CopyState = "idle" | "copied" | "failed";

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Outside a secure context there is no clipboard API; a selected textarea still copies.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

function blockLabel(language: string | null, meta: CodeMeta): string {
  if (meta.host) return "On a host with Docker — not in the lab";
  if (meta.run) return meta.cgroup ? `Your sandbox · cgroup ${meta.cgroup}` : "Your sandbox";
  if (language === "text" || language === "console" || language === "output") return "Output";
  return language && SHELL_LANGUAGES.has(language) ? "Shell" : (language ?? "Text");
}

/** What the Run button may do right now, and why not when it may not. */
export function runAvailability(
  meta: CodeMeta,
  lab: { phase: string; cgroupVersion: 1 | 2 | null; role?: "owner" | "watcher" | null } | null,
): { offer: boolean; enabled: boolean; reason: string | null } {
  if (!meta.run || lab === null) return { offer: false, enabled: false, reason: null };
  if (meta.cgroup && lab.cgroupVersion !== null && `v${lab.cgroupVersion}` !== meta.cgroup) {
    return { offer: false, enabled: false, reason: `This host runs cgroup v${lab.cgroupVersion}: use the block for v${lab.cgroupVersion}.` };
  }
  if (lab.phase !== "ready") return { offer: true, enabled: false, reason: "Run works once your sandbox is connected." };
  if (lab.role === "watcher") return { offer: true, enabled: false, reason: "This tab only watches your sandbox; press Use it here to type in it." };
  return { offer: true, enabled: true, reason: null };
}

export function CodeBlock({ code, language, meta }: { code: string; language: string | null; meta: CodeMeta }) {
  const lab = useOptionalLab();
  const [copyState, setCopyState] = useState<CopyState>("idle");
  const [ranAt, setRanAt] = useState<number | null>(null);
  const resetTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(resetTimer.current), []);

  const copy = useCallback(async () => {
    const ok = await copyText(code);
    setCopyState(ok ? "copied" : "failed");
    clearTimeout(resetTimer.current);
    resetTimer.current = setTimeout(() => setCopyState("idle"), 2000);
  }, [code]);

  const commands = commandLines(code);
  const run = useCallback(() => {
    if (!lab) return;
    // One line at a time: each is typed and, for harmless blocks, submitted, exactly as if the
    // learner had typed it. A destructive block is one line and is never submitted.
    for (const command of commands) lab.typeIntoTerminal(command, { submit: !meta.destructive });
    setRanAt(Date.now());
  }, [lab, commands, meta.destructive]);

  const availability = runAvailability(
    meta,
    lab ? { phase: lab.state.phase, cgroupVersion: lab.session?.cgroupVersion ?? null, role: lab.role } : null,
  );
  const showCopy = meta.run || meta.host || (language !== null && SHELL_LANGUAGES.has(language) && language !== "console");
  const firstCommand = commands[0] ?? code;
  const runName = meta.destructive
    ? `Type into your terminal, then press Enter yourself: ${firstCommand}`
    : `Run in your terminal: ${commands.join("; ")}`;

  return (
    <div
      className="group/code my-5 overflow-hidden rounded-lg bg-zinc-900 text-zinc-100 dark:bg-black/60 dark:ring-1 dark:ring-zinc-800"
      data-code-run={meta.run ? (meta.destructive ? "type" : "run") : undefined}
    >
      <div className="flex min-h-9 flex-wrap items-center justify-between gap-2 border-b border-white/10 px-3 py-1 text-xs">
        <span className={meta.host ? "text-amber-300" : "text-zinc-400"}>{blockLabel(language, meta)}</span>
        <span className="flex items-center gap-2">
          {meta.destructive ? <span className="text-amber-300">you press Enter</span> : null}
          {showCopy ? (
            <button
              type="button"
              onClick={() => void copy()}
              className="rounded px-2 py-1 font-medium text-zinc-200 hover:bg-white/10 focus-visible:outline-sky-400"
              aria-label={`Copy: ${firstCommand}`}
            >
              {copyState === "copied" ? "Copied" : copyState === "failed" ? "Copy failed" : "Copy"}
            </button>
          ) : null}
          {availability.offer ? (
            <button
              type="button"
              onClick={run}
              disabled={!availability.enabled}
              title={availability.reason ?? undefined}
              aria-label={runName}
              className="rounded bg-sky-500 px-2 py-1 font-semibold text-zinc-950 hover:bg-sky-400 focus-visible:outline-sky-300 disabled:cursor-not-allowed disabled:opacity-50"
            >
              {meta.destructive ? "Type" : "Run"}
            </button>
          ) : null}
        </span>
      </div>
      <pre className="overflow-x-auto p-4 font-mono text-sm leading-6" tabIndex={0} aria-label={`${blockLabel(language, meta)} code`}>
        <code>{code}</code>
      </pre>
      {availability.reason && !availability.offer ? <p className="border-t border-white/10 px-3 py-1.5 text-xs text-zinc-400">{availability.reason}</p> : null}
      <span className="sr-only" aria-live="polite">
        {copyState === "copied" ? "Copied to the clipboard." : copyState === "failed" ? "Could not copy; select the text instead." : ""}
        {ranAt !== null ? (meta.destructive ? " Typed into your terminal; press Enter there to run it." : " Sent to your terminal.") : ""}
      </span>
    </div>
  );
}
