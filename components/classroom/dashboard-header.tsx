"use client";

// The top of the dashboard, made to be read from the back of a room: the class's join code in
// very large type and the link learners open, beside the class's state and head count, and
// whether the dashboard is still hearing from the server.

import Link from "next/link";
import { useEffect, useState } from "react";

import type { ClassDetail } from "../../common/classroom";
import { Button } from "../ui/button";
import { CLASS_STATE_MEANING, ClassStateBadge } from "./status-badge";
import type { StreamConnection } from "./use-dashboard-stream";

const CONNECTION_TEXT: Record<StreamConnection, string> = {
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  stopped: "updates stopped",
};

export function DashboardHeader({ detail, lessonTitle, connection }: { detail: ClassDetail; lessonTitle: string; connection: StreamConnection }) {
  const summary = detail.class;
  // The address learners type is this server's own; it is known only in the browser.
  const [origin, setOrigin] = useState("");
  useEffect(() => setOrigin(window.location.origin), []);
  const joinPath = `/join/${summary.code}`;
  const joinUrl = `${origin}${joinPath}`;
  const [copied, setCopied] = useState<string | null>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(joinUrl);
      setCopied("Link copied.");
    } catch {
      setCopied("Copying is not allowed here; select the link and copy it.");
    }
  };

  return (
    <header className="grid gap-6 border-b border-zinc-200 pb-6 lg:grid-cols-[minmax(0,1fr)_auto] lg:items-end dark:border-zinc-800">
      <div className="min-w-0 space-y-2">
        <p className="text-sm">
          <Link href="/teach" className="font-medium text-sky-700 underline underline-offset-2 dark:text-sky-400">
            Your classes
          </Link>
        </p>
        <h1 className="text-3xl font-bold tracking-tight break-words sm:text-4xl">{summary.name}</h1>
        <p className="text-zinc-700 dark:text-zinc-300">
          Lesson: <Link href={`/lessons/${summary.lesson}`} className="underline underline-offset-2">{lessonTitle}</Link>
        </p>
        <dl className="flex flex-wrap items-center gap-x-5 gap-y-2 text-sm">
          <div className="flex items-center gap-2">
            <dt className="sr-only">State</dt>
            <dd>
              <ClassStateBadge state={summary.state} />
            </dd>
            <dd className="text-zinc-600 dark:text-zinc-400">{CLASS_STATE_MEANING[summary.state]}</dd>
          </div>
          <div className="flex gap-1">
            <dt className="text-zinc-600 dark:text-zinc-400">Learners</dt>
            <dd className="font-mono font-semibold tabular-nums" data-testid="class-learners">
              {summary.learners} / {summary.capacity}
            </dd>
          </div>
          <div className="flex gap-1">
            <dt className="text-zinc-600 dark:text-zinc-400">Live sandboxes</dt>
            <dd className="font-mono font-semibold tabular-nums" data-testid="class-live">
              {summary.live}
            </dd>
          </div>
          <div className="flex items-center gap-1.5">
            <dt className="sr-only">Updates</dt>
            <dd role="status" aria-live="polite" data-testid="stream-status" data-connection={connection} className="flex items-center gap-1.5">
              <span
                aria-hidden="true"
                className={`inline-block size-2 rounded-full ${
                  connection === "open" ? "bg-emerald-600 dark:bg-emerald-400" : connection === "stopped" ? "bg-rose-600" : "bg-amber-500 motion-safe:animate-pulse"
                }`}
              />
              {CONNECTION_TEXT[connection]}
            </dd>
          </div>
        </dl>
      </div>

      <div className="min-w-0 rounded-xl border-2 border-sky-700 bg-sky-50 px-5 py-4 text-zinc-950 dark:border-sky-400 dark:bg-sky-950 dark:text-white">
        <p className="text-sm font-semibold tracking-wide uppercase">
          {summary.state === "open" ? "Join code" : "Join code (the class is not open)"}
        </p>
        <p
          data-testid="join-code"
          className="font-mono text-6xl leading-none font-bold tracking-[0.15em] break-all sm:text-7xl lg:text-8xl"
        >
          {summary.code}
        </p>
        <p className="mt-3 text-base break-all sm:text-lg">
          <a href={joinPath} className="font-mono font-semibold underline underline-offset-4" data-testid="join-link">
            {origin ? joinUrl : joinPath}
          </a>
        </p>
        <div className="mt-2 flex flex-wrap items-center gap-3">
          <Button variant="quiet" onClick={copy} className="bg-white dark:bg-zinc-900">
            Copy link
          </Button>
          <span role="status" className="text-sm">
            {copied ?? ""}
          </span>
        </div>
      </div>
    </header>
  );
}
