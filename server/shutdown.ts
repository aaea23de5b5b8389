// How a lab process ends on SIGTERM or SIGINT (systemd, `docker stop`, Kubernetes, Ctrl-C):
// new sessions are refused, every learner is told the lab is restarting and their progress is
// kept, every sandbox is torn down, and the process exits, within a bounded time.
//
// The handlers are installed before start-up, not after it: a signal that comes while the
// server is still starting (Next preparing, sandboxes being prepared ahead) is remembered and
// acted on as soon as there is something to stop, rather than killing the process half-way
// with sandboxes prepared and nobody left to remove them.
import { log } from "./log";

/** How long a stop may take before the process exits anyway (status 1), whatever is left:
 *  under the 30 s a container runtime or Kubernetes waits before its SIGKILL. */
export const STOP_DEADLINE_MS = 25_000;

export class ShutdownOnSignal {
  private stop: (() => Promise<void>) | null = null;
  private signalled: NodeJS.Signals | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private readonly handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => [signal, () => this.signal(signal)] as const);

  constructor(
    private readonly deadlineMs = STOP_DEADLINE_MS,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {
    for (const [signal, handler] of this.handlers) process.on(signal, handler);
  }

  /** Takes the handlers away again (a process that hands its signals to something else). */
  dispose(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    if (this.deadline) clearTimeout(this.deadline);
  }

  /** Whether a signal has come (a caller still starting may skip what is left of its start). */
  get requested(): boolean {
    return this.signalled !== null;
  }

  /** What ends the process's work; called at once if a signal came during start-up. */
  ready(stop: () => Promise<void>): void {
    this.stop = stop;
    if (this.signalled) void this.run();
  }

  private signal(signal: NodeJS.Signals): void {
    // A second signal changes nothing: the stop under way is what ends the process, and the
    // deadline bounds it.
    if (this.signalled) return;
    this.signalled = signal;
    log.info({ signal, deadlineS: this.deadlineMs / 1000 }, this.stop ? "shutting down" : "shutting down once start-up ends");
    // Not unref'd: it must fire even while nothing else keeps the event loop alive.
    this.deadline = setTimeout(() => {
      log.error({ signal, deadlineS: this.deadlineMs / 1000 }, "shutdown did not finish in time; exiting with what is left");
      this.exit(1);
    }, this.deadlineMs);
    if (this.stop) void this.run();
  }

  private async run(): Promise<void> {
    const stop = this.stop;
    this.stop = null;
    if (!stop) return;
    try {
      await stop();
    } catch (err) {
      log.error({ err }, "shutdown failed");
      this.exit(1);
      return;
    }
    this.exit(0);
  }
}
