"use client";

// The dashboard's one connection to its class: an EventSource on /api/classes/<id>/events,
// whatever the number of learners. The first message is the whole class, the rest what
// changed. EventSource reconnects by itself after a network failure (the server sends the whole
// class again then); it gives up only when the server refuses the stream, and then the class's
// own URL says why (not logged in, no such class) in a sentence the page can show, or when the
// server says goodbye with a reason of its own.

import { useCallback, useEffect, useReducer, useState } from "react";

import { z } from "zod";

import { ClassDetail } from "../../common/classroom";
import { callApi } from "./api";
import { type DashboardAction, applyDashboardAction, parseDashboardMessage } from "./dashboard-state";

/** connecting: before the stream first opened; open: updates arrive; reconnecting: the stream
 *  dropped and EventSource is trying again; stopped: the server refused it. */
export type StreamConnection = "connecting" | "open" | "reconnecting" | "stopped";

export interface StreamProblem {
  message: string;
  /** The HTTP status behind it, when the server gave one (403: log in again). */
  status: number | null;
}

const Bye = z.object({ reason: z.string() });

function byeReason(data: string): string {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    json = null;
  }
  const parsed = Bye.safeParse(json);
  return parsed.success ? `The server stopped the live updates: ${parsed.data.reason}` : "The server stopped the live updates. Try again in a moment.";
}

export function useDashboardStream(classId: string) {
  const [detail, dispatch] = useReducer(
    (state: ClassDetail | null, action: DashboardAction) => applyDashboardAction(state, action),
    null,
  );
  const [connection, setConnection] = useState<StreamConnection>("connecting");
  const [problem, setProblem] = useState<StreamProblem | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let disposed = false;
    const source = new EventSource(`/api/classes/${classId}/events`);
    let opened = false;

    source.onopen = () => {
      opened = true;
      setConnection("open");
      setProblem(null);
    };
    source.onmessage = (message: MessageEvent<string>) => {
      const event = parseDashboardMessage(message.data);
      if (event) {
        dispatch(event);
        return;
      }
      // One unreadable update loses that update, not the dashboard: keep listening, and say so.
      setProblem({
        message: "An update from the server could not be read, so some cards may be out of date. Reload the page; if this stays, the page and the server are different versions.",
        status: null,
      });
    };
    // The server's goodbye: it ends this stream on purpose (too many dashboards on the class,
    // the server shutting down) and says why. Trying again at once would only be refused again.
    source.addEventListener("bye", (message: MessageEvent<string>) => {
      source.close();
      setConnection("stopped");
      setProblem({ message: byeReason(message.data), status: null });
    });
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        setConnection(opened ? "reconnecting" : "connecting");
        return;
      }
      setConnection("stopped");
      // The stream's refusal has no body EventSource lets us read; the class's JSON does.
      void callApi(`/api/classes/${classId}`, ClassDetail).then((result) => {
        if (disposed) return;
        if (result.ok) {
          dispatch({ type: "detail", detail: result.value });
          setProblem({ message: "The live updates stopped; the dashboard shows the class as it was a moment ago. Try again to resume them.", status: null });
        } else {
          setProblem({ message: result.message, status: result.status || null });
        }
      });
    };

    return () => {
      disposed = true;
      source.close();
    };
  }, [classId, attempt]);

  const retry = useCallback(() => {
    setProblem(null);
    setConnection("connecting");
    setAttempt((n) => n + 1);
  }, []);

  return { detail, dispatch, connection, problem, retry };
}
