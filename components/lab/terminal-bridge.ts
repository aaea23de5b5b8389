// The terminal panel's own view of the lab: the socket's terminal half, and a slot where the
// panel registers its xterm.js instance. Kept apart from LabApi (lab-context.ts) because only
// the terminal panel needs raw input and resizes, and because this value changes only with the
// connection's state, not ten times a second with the kernel-state stream.

import { createContext, useContext } from "react";

import type { Limits } from "../../common/limits";
import type { TerminalSize } from "../../common/protocol";
import type { ExpiryNotice } from "../terminal/expiry-banner";
import type { LabState } from "../terminal/lab-state";
import type { ConnectMode } from "./use-lab-socket";

/** What the provider needs from the terminal the panel drew. */
export interface TerminalHandle {
  /** Draws pty output; `rendered` runs once it is on screen (flow control). */
  write(chunk: Uint8Array, rendered: () => void): void;
  /** Types `text` as if the learner had, and presses Enter when `submit`. */
  type(text: string, submit: boolean): void;
  focus(): void;
  /** Clears screen and scrollback, in order with the output written before. */
  reset(): void;
  /** Draw at the sandbox's size, read-only (a page that only watches), or fit the panel and
   *  take input (null). */
  followSize(size: TerminalSize | null): void;
}

export interface TerminalBridge {
  state: LabState;
  /** The limits in force now (they change with the limits panel). */
  limits: Limits | null;
  /** Whether this page is the instructor's look at a learner's sandbox (read-only, never its own). */
  observing: boolean;
  /** The lab's warning that it will end the sandbox soon (idle, or at its lifetime), or null. */
  expiry: ExpiryNotice | null;
  connect(size: TerminalSize, mode?: ConnectMode): void;
  sendInput(data: string | Uint8Array<ArrayBuffer>): void;
  resize(size: TerminalSize): void;
  markBroken(reason: string): void;
  /** The panel's terminal is drawn; returns the function that unregisters it. */
  attachTerminal(handle: TerminalHandle): () => void;
}

export const TerminalBridgeContext = createContext<TerminalBridge | null>(null);

export function useTerminalBridge(): TerminalBridge {
  const bridge = useContext(TerminalBridgeContext);
  if (!bridge) throw new Error("the terminal panel needs a <LabProvider> above it");
  return bridge;
}
