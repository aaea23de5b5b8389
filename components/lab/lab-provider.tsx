"use client";

// The page's lab: one WebSocket, one sandbox, shared by everything on the lesson page. The
// terminal panel draws the shell, the live views draw the kernel state, the limits panel
// changes limits, and the lesson's own components (Run buttons, lab steps, diagrams) read the
// same session through useLab(). It wraps the lesson text as well as the lab, so that text can
// talk to the lab; it renders nothing of its own, so the text is server-rendered as before.

import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from "react";

import type { Broadcast } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import { ClientMessage, type StepProgress, type TerminalSize } from "../../common/protocol";
import { type ExpiryNotice, expiryNotice } from "../terminal/expiry-banner";
import type { LabState } from "../terminal/lab-state";
import { type LabApi, LabContext, type LimitsUpdateResult } from "./lab-context";
import { EMPTY_LIVE_STATE, type LiveState, applyLiveDelta } from "./live-state";
import { PendingLimitUpdates, isLimitField } from "./pending-limit-updates";
import { type TerminalBridge, TerminalBridgeContext, type TerminalHandle } from "./terminal-bridge";
import { type LabSocketEvents, type ObserveTarget, useLabSocket } from "./use-lab-socket";
import { usePageVisible } from "./use-page-visible";

type TypingRequest = { text: string; submit: boolean };

/**
 * `observe`: instead of the visitor's own sandbox, watch a class member's, read-only (the
 * instructor's dashboard; the server only allows it with the instructor's login).
 */
export function LabProvider({ lesson, observe, children }: { lesson: string; observe?: ObserveTarget; children: ReactNode }) {
  const terminalRef = useRef<TerminalHandle | null>(null);
  // The stream's state lives in a ref as well, because deltas arrive faster than React renders
  // and each one must apply to the one before it, not to the last rendered state.
  const liveRef = useRef<LiveState>(EMPTY_LIVE_STATE);
  const [liveState, setLiveState] = useState<LiveState>(EMPTY_LIVE_STATE);
  const [limits, setLimits] = useState<LabApi["limits"]>(null);
  const [progress, setProgress] = useState<readonly StepProgress[]>([]);
  const [classroom, setClassroom] = useState<LabApi["classroom"]>(null);
  const [broadcast, setBroadcast] = useState<Broadcast | null>(null);
  const [expiry, setExpiry] = useState<ExpiryNotice | null>(null);
  const [pendingUpdates] = useState(() => new PendingLimitUpdates());
  const pendingTypingRef = useRef<TypingRequest[]>([]);
  const sendRef = useRef<(message: ClientMessage) => boolean>(() => false);
  // The sandbox's terminal size, which a page that only watches draws at.
  const ptySizeRef = useRef<TerminalSize | null>(null);

  const replaceLive = useCallback((next: LiveState) => {
    liveRef.current = next;
    setLiveState(next);
  }, []);

  const events = useMemo<LabSocketEvents>(
    () => ({
      onOutput(chunk, rendered) {
        const terminal = terminalRef.current;
        if (terminal) terminal.write(chunk, rendered);
        else rendered();
      },
      onMessage(message) {
        switch (message.type) {
          case "session.ready":
            replaceLive(EMPTY_LIVE_STATE);
            // A warning still in force follows this frame; one from an earlier connection is gone.
            setExpiry(null);
            setLimits({ limits: message.limits, cgroupFiles: message.cgroupFiles });
            setClassroom(message.classroom ?? null);
            // The frames after this one redraw the screen as the server's copy has it: start
            // from a clear terminal (this replaces whatever an earlier connection drew).
            ptySizeRef.current = message.size;
            terminalRef.current?.reset();
            terminalRef.current?.followSize(message.role === "watcher" ? message.size : null);
            return false;
          case "session.role":
            terminalRef.current?.followSize(message.role === "watcher" ? ptySizeRef.current : null);
            return false;
          case "pty.size":
            ptySizeRef.current = message.size;
            terminalRef.current?.followSize(message.size);
            return false;
          case "state.delta": {
            const update = applyLiveDelta(liveRef.current, message.delta);
            if (update.ok) {
              replaceLive(update.state);
            } else {
              // A change without its base (a frame lost to a bug): ask for the whole state again.
              console.warn(`lab: ${update.reason}; asking for a full snapshot`);
              sendRef.current({ type: "state.watch", watch: false });
              sendRef.current({ type: "state.watch", watch: true });
            }
            return false;
          }
          case "limits.updated":
            setLimits({ limits: message.limits, cgroupFiles: message.cgroupFiles });
            pendingUpdates.answer(message.requestId, { ok: true, limits: message.limits, cgroupFiles: message.cgroupFiles });
            return false;
          case "progress":
            setProgress(message.steps);
            return false;
          case "limits.changed":
            // The instructor's change: the limits panel shows it like the learner's own.
            setLimits({ limits: message.limits, cgroupFiles: message.cgroupFiles });
            return false;
          case "session.expiring":
            setExpiry(expiryNotice(message, Date.now()));
            return false;
          case "class.broadcast":
            setBroadcast((current) => (current && current.sentAtMs === message.broadcast.sentAtMs ? current : message.broadcast));
            return false;
          case "error":
            return pendingUpdates.answerError(message.requestId, message.message, message.field);
          default:
            return false;
        }
      },
      onDisconnect() {
        pendingUpdates.failAll("The connection to the lab closed before it answered.");
        // The close's own sentence says why the sandbox ended; a reconnect is told again.
        setExpiry(null);
        // Commands meant for the shell that just ended are not typed into the next one.
        pendingTypingRef.current = [];
        // The last charts stay on screen (an OOM kill that ended the shell is worth seeing);
        // only the "now" of the kernel state is gone.
        if (liveRef.current.live !== null) replaceLive({ ...liveRef.current, live: null });
      },
    }),
    [pendingUpdates, replaceLive],
  );

  // One target per learner watched, whatever object the parent renders it with.
  const observeClass = observe?.classId;
  const observeMember = observe?.memberId;
  const target = useMemo(
    () => (observeClass && observeMember ? { classId: observeClass, memberId: observeMember } : null),
    [observeClass, observeMember],
  );
  const { state, connect, sendInput, resize, markBroken, send } = useLabSocket(lesson, events, target);
  const stateRef = useRef<LabState>(state);
  useEffect(() => {
    stateRef.current = state;
    sendRef.current = send;
  }, [state, send]);

  const session = state.phase === "ready" ? state.session : null;
  const role = state.phase === "ready" ? state.role : null;

  // Stream kernel state only while someone can see it: the server probes ten times a second.
  const visible = usePageVisible();
  const watchingRef = useRef<{ session: object; watching: boolean } | null>(null);
  useEffect(() => {
    if (!session) return;
    const watched = watchingRef.current?.session === session && watchingRef.current.watching;
    if (visible === watched) return;
    if (send({ type: "state.watch", watch: visible })) watchingRef.current = { session, watching: visible };
  }, [session, visible, send]);

  // Run buttons pressed while the sandbox was still starting type, in order, once it is ready.
  useEffect(() => {
    const terminal = terminalRef.current;
    if (state.phase !== "ready" || !terminal) return;
    const pending = pendingTypingRef.current;
    pendingTypingRef.current = [];
    for (const request of pending) terminal.type(request.text, request.submit);
  }, [state.phase]);

  const typeIntoTerminal = useCallback((text: string, options?: { submit?: boolean }) => {
    const request = { text, submit: options?.submit === true };
    const terminal = terminalRef.current;
    const current = stateRef.current;
    if (terminal && current.phase === "ready" && current.role === "owner") {
      terminal.type(request.text, request.submit);
      return;
    }
    pendingTypingRef.current.push(request);
    terminal?.focus();
  }, []);

  const updateLimits = useCallback(
    async (change: Partial<Limits>): Promise<LimitsUpdateResult> => {
      const current = stateRef.current;
      if (current.phase !== "ready") {
        return { ok: false, field: null, message: "The lab is not connected, so nothing was changed. Reconnect first." };
      }
      if (current.role !== "owner") {
        return { ok: false, field: null, message: "This tab only watches the sandbox; change limits in the tab that uses it." };
      }
      const requestId = pendingUpdates.nextId();
      const parsed = ClientMessage.safeParse({ type: "limits.update", requestId, sessionId: current.session.sessionId, limits: change });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue?.path[0] === "limits" ? String(issue.path[1] ?? "") : undefined;
        return { ok: false, field: isLimitField(field) ? field : null, message: issue?.message ?? "The change is not valid." };
      }
      if (!send(parsed.data)) return { ok: false, field: null, message: "The lab is not connected, so nothing was changed." };
      return pendingUpdates.add(requestId);
    },
    [send, pendingUpdates],
  );

  const attachTerminal = useCallback((handle: TerminalHandle) => {
    terminalRef.current = handle;
    return () => {
      if (terminalRef.current === handle) terminalRef.current = null;
    };
  }, []);

  const currentLimits = limits?.limits ?? null;
  const bridge = useMemo<TerminalBridge>(
    () => ({ state, limits: currentLimits, observing: target !== null, expiry, connect, sendInput, resize, markBroken, attachTerminal }),
    [state, currentLimits, target, expiry, connect, sendInput, resize, markBroken, attachTerminal],
  );

  const lab = useMemo<LabApi>(
    () => ({
      state,
      session,
      role,
      live: liveState.live,
      history: liveState.history,
      oomEvents: liveState.oomEvents,
      limits,
      progress,
      classroom,
      broadcast,
      typeIntoTerminal,
      updateLimits,
    }),
    [state, session, role, liveState, limits, progress, classroom, broadcast, typeIntoTerminal, updateLimits],
  );

  return (
    <LabContext.Provider value={lab}>
      <TerminalBridgeContext.Provider value={bridge}>{children}</TerminalBridgeContext.Provider>
    </LabContext.Provider>
  );
}
