"use client";

// The learner's shell in their own sandbox, drawn by xterm.js. The session itself belongs to the
// page's LabProvider: this panel opens it once its terminal exists, draws its output, and
// registers the terminal so that the lesson's Run buttons can type into it.
//
// xterm.js is imported inside an effect, not at the top, so the lesson beside it renders and
// reads before any terminal code has loaded; the server-rendered panel is only its frame and
// status line. The stylesheet is imported statically because it is small and the terminal's
// box must not jump when the code arrives.

import "@xterm/xterm/css/xterm.css";

import type { Terminal } from "@xterm/xterm";
import { useCallback, useEffect, useRef, useState } from "react";

import { useTerminalBridge } from "../lab/terminal-bridge";
import { Button } from "../ui/button";
import { type ExpiryNotice, expiryBannerText } from "./expiry-banner";
import { type LabState, statusText } from "./lab-state";
import { SandboxSummary } from "./sandbox-summary";
import { DARK_SCHEME_QUERY, terminalTheme } from "./terminal-theme";

/** Wait this long after the last change of the panel's size before refitting the terminal. */
const RESIZE_DEBOUNCE_MS = 100;

/**
 * Tab belongs to the shell (completion), so the terminal would trap keyboard users. Shift+Tab
 * is left to the browser instead, which moves focus back out; shells rarely bind it.
 */
function letShiftTabLeave(event: KeyboardEvent): boolean {
  return !(event.key === "Tab" && event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey);
}

/** xterm.js reports some input (old mouse protocols) as a string of byte values. */
function bytesFromBinaryString(data: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(data, (char) => char.charCodeAt(0) & 0xff);
}

/**
 * Types `text` into the terminal as the learner would: each character goes to the shell
 * through xterm.js's input path, so the socket sees ordinary keystrokes. Text of several lines
 * is pasted instead (bracketed, when the shell asks for it) so that no line runs before the
 * learner presses Enter; a trailing line break is never typed — `submit` is the only Enter.
 */
function typeInto(terminal: Terminal, text: string, submit: boolean): void {
  const line = text.replace(/[\r\n]+$/, "");
  if (/[\r\n]/.test(line)) terminal.paste(line);
  else if (line) terminal.input(line, true);
  if (submit) terminal.input("\r", true);
  terminal.focus();
}

/** Where the learner's choice of screen-reader mode is remembered between visits. */
const SCREEN_READER_KEY = "nslab.terminal.screenReaderMode";

export function TerminalPanel() {
  const containerRef = useRef<HTMLDivElement>(null);
  const terminalRef = useRef<Terminal | null>(null);
  // xterm.js draws its rows for the eye only (aria-hidden) unless screen-reader mode is on;
  // then it keeps an accessible copy of the output and announces new lines.
  const [screenReaderMode, setScreenReaderMode] = useState(false);
  useEffect(() => {
    setScreenReaderMode(window.localStorage.getItem(SCREEN_READER_KEY) === "on");
  }, []);
  const toggleScreenReaderMode = useCallback((on: boolean) => {
    setScreenReaderMode(on);
    window.localStorage.setItem(SCREEN_READER_KEY, on ? "on" : "off");
  }, []);
  useEffect(() => {
    const terminal = terminalRef.current;
    if (terminal) terminal.options.screenReaderMode = screenReaderMode;
  }, [screenReaderMode]);
  const { state, limits, observing, expiry, connect, sendInput, resize, markBroken, attachTerminal } = useTerminalBridge();

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    let disposed = false;
    const cleanups: Array<() => void> = [];

    void (async () => {
      let modules;
      try {
        modules = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      } catch {
        if (!disposed) markBroken("The terminal could not load. The lesson stays readable; reload the page to try again.");
        return;
      }
      // StrictMode's first mount, or a quick navigation away, ends before the import does.
      if (disposed) return;
      const [{ Terminal }, { FitAddon }] = modules;

      const colorScheme = window.matchMedia(DARK_SCHEME_QUERY);
      const terminal = new Terminal({
        fontFamily: getComputedStyle(container).fontFamily,
        fontSize: 14,
        cursorBlink: true,
        scrollback: 5000,
        theme: terminalTheme(colorScheme.matches),
        screenReaderMode: window.localStorage.getItem(SCREEN_READER_KEY) === "on",
      });
      const fit = new FitAddon();
      terminal.loadAddon(fit);
      terminal.attachCustomKeyEventHandler(letShiftTabLeave);
      terminal.open(container);
      fit.fit();
      terminalRef.current = terminal;
      // A page that only watches draws at the sandbox's own size and takes no input; the
      // owner's terminal fits the panel.
      let fixedSize: { cols: number; rows: number } | null = null;
      const refit = () => {
        if (fixedSize) terminal.resize(fixedSize.cols, fixedSize.rows);
        else fit.fit();
      };
      const detach = attachTerminal({
        write: (chunk, rendered) => terminal.write(chunk, rendered),
        type: (text, submit) => typeInto(terminal, text, submit),
        focus: () => terminal.focus(),
        // Written, not terminal.reset(): a reset must come after output still being parsed.
        reset: () => terminal.write("\x1bc"),
        followSize: (size) => {
          fixedSize = size;
          terminal.options.disableStdin = size !== null;
          refit();
        },
      });
      cleanups.push(() => {
        detach();
        terminalRef.current = null;
        terminal.dispose();
      });

      const subscriptions = [
        terminal.onData((data) => sendInput(data)),
        terminal.onBinary((data) => sendInput(bytesFromBinaryString(data))),
        terminal.onResize((size) => resize(size)),
      ];
      cleanups.push(() => subscriptions.forEach((subscription) => subscription.dispose()));

      // Refit when the panel changes size (window resize, phone rotation, layout switch); a
      // drag produces a burst of observations, and each refit may send a pty.resize.
      let refitTimer: ReturnType<typeof setTimeout> | undefined;
      const observer = new ResizeObserver(() => {
        clearTimeout(refitTimer);
        refitTimer = setTimeout(refit, RESIZE_DEBOUNCE_MS);
      });
      observer.observe(container);
      cleanups.push(() => {
        observer.disconnect();
        clearTimeout(refitTimer);
      });

      const followColorScheme = () => {
        terminal.options.theme = terminalTheme(colorScheme.matches);
      };
      colorScheme.addEventListener("change", followColorScheme);
      cleanups.push(() => colorScheme.removeEventListener("change", followColorScheme));

      connect({ cols: terminal.cols, rows: terminal.rows });
    })();

    return () => {
      disposed = true;
      for (const cleanup of cleanups.reverse()) cleanup();
    };
  }, [connect, sendInput, resize, markBroken, attachTerminal]);

  /** "new": a fresh sandbox (after one ended); "auto": back to this lesson's sandbox if it is
   *  still there (a reconnect, or taking it over from another tab), else a new one. */
  const startAgain = useCallback(
    (mode: "new" | "auto") => {
      const terminal = terminalRef.current;
      if (!terminal) return;
      terminal.reset();
      connect({ cols: terminal.cols, rows: terminal.rows }, mode);
      terminal.focus();
    },
    [connect],
  );

  return (
    <section
      aria-labelledby="lab-heading"
      className="flex h-full flex-col overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-sm dark:border-zinc-800 dark:bg-zinc-900"
    >
      <header className="space-y-1 border-b border-zinc-200 px-4 py-3 dark:border-zinc-800">
        <h2 id="lab-heading" className="text-sm font-semibold">
          {observing ? "The learner's sandbox (you only watch)" : "Your sandbox"}
        </h2>
        {state.phase === "ready" || state.phase === "reconnecting" ? (
          <SandboxSummary session={state.session} limits={limits ?? state.session.limits} />
        ) : (
          <p className="text-xs text-zinc-600 dark:text-zinc-400">A Linux shell in namespaces and cgroups of its own.</p>
        )}
      </header>

      <div className="flex min-h-10 items-center justify-between gap-3 border-b border-zinc-200 px-4 py-2 dark:border-zinc-800">
        <LabStatus state={state} />
        <div className="flex shrink-0 items-center gap-3">
          <label className="flex items-center gap-1.5 text-xs text-zinc-600 dark:text-zinc-400">
            <input
              type="checkbox"
              checked={screenReaderMode}
              onChange={(event) => toggleScreenReaderMode(event.target.checked)}
              data-testid="screen-reader-mode"
            />
            Screen reader mode
          </label>
          {state.phase === "closed" ? (
            <Button onClick={() => startAgain(state.offer === "restart" ? "new" : "auto")} className="shrink-0">
              {observing ? "Watch again" : state.offer === "restart" ? "Start a new sandbox" : "Reconnect"}
            </Button>
          ) : null}
          {state.phase === "ready" && state.role === "watcher" && !observing ? (
            <Button onClick={() => startAgain("auto")} className="shrink-0">
              Use it here
            </Button>
          ) : null}
        </div>
      </div>

      {/* Keyed by the notice: a new warning is a new banner, announced again. */}
      {expiry && state.phase === "ready" ? <ExpiryBanner key={expiry.endsAtMs} notice={expiry} /> : null}

      {/* Tab belongs to the shell inside the terminal, so keyboard users get a way past it
          going forwards too (Shift+Tab leaves it backwards). */}
      <a
        href="#live-views"
        className="sr-only text-sm focus:not-sr-only focus:px-4 focus:py-1 focus:underline"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById("live-views")?.focus();
        }}
      >
        Skip past the terminal to the live views
      </a>
      {/* FitAddon measures the terminal's parent, so the padding sits on this wrapper. */}
      <div className="min-h-0 flex-1 bg-zinc-50 p-2 dark:bg-zinc-950">
        <div
          ref={containerRef}
          data-testid="terminal"
          aria-label="Sandbox terminal"
          role="group"
          className="h-full w-full font-mono"
        />
      </div>

      <p className="border-t border-zinc-200 px-4 py-2 text-xs text-zinc-600 dark:border-zinc-800 dark:text-zinc-400">
        Tab completes in the shell; <kbd className="font-mono">Shift</kbd>+<kbd className="font-mono">Tab</kbd> moves focus out of
        the terminal.
      </p>
    </section>
  );
}

/** "Your sandbox ends in 42 s …", counted down once a second while it shows. */
function ExpiryBanner({ notice }: { notice: ExpiryNotice }) {
  const [nowMs, setNowMs] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNowMs(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  // Announced once, as it arrived; the countdown itself is for the eye (a screen reader would
  // otherwise read the sentence again every second).
  const [announced] = useState(() => expiryBannerText(notice, Date.now()));
  return (
    <div
      data-testid="expiry-banner"
      className="border-b border-amber-300 bg-amber-50 px-4 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <p aria-hidden="true">{expiryBannerText(notice, nowMs)}</p>
      <p role="alert" className="sr-only">
        {announced}
      </p>
    </div>
  );
}

const dotColor: Record<LabState["phase"], string> = {
  loading: "bg-zinc-400",
  connecting: "bg-amber-500 motion-safe:animate-pulse",
  reconnecting: "bg-amber-500 motion-safe:animate-pulse",
  ready: "bg-emerald-500",
  closed: "bg-rose-500",
  broken: "bg-rose-500",
};

function LabStatus({ state }: { state: LabState }) {
  return (
    <p data-testid="lab-status" role="status" aria-live="polite" className="flex items-start gap-2 text-sm">
      <span aria-hidden="true" className={`mt-1.5 inline-block size-2 shrink-0 rounded-full ${dotColor[state.phase]}`} />
      <span>{statusText(state)}</span>
    </p>
  );
}
