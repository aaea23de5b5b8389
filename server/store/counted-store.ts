// The store as the server uses it, with its failures counted for /metrics
// (nslab_store_errors_total{operation="classes.join"}). A refusal the store's contract
// promises (a join code taken, a full class, a removed member, a class not open) is an answer,
// not a failure: only the rest is counted — the database away, a query that failed, the write
// queue full, the store closed.
import { storeErrors } from "../metrics";
import { ClassCodeTakenError, ClassFullError, ClassMemberRemovedError, ClassNotOpenError, type Store } from "./store";

const ANSWERS = [ClassCodeTakenError, ClassFullError, ClassMemberRemovedError, ClassNotOpenError];

function counted<T extends object>(part: string, inner: T): T {
  const wrapped: Record<string, unknown> = {};
  // The methods of the part's prototype chain (the stores are classes) and of the object itself.
  const names = new Set<string>();
  for (let o: object | null = inner; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) if (name !== "constructor") names.add(name);
  }
  for (const name of names) {
    const value = (inner as Record<string, unknown>)[name];
    if (typeof value !== "function") continue;
    const operation = `${part}.${name}`;
    const fail = (err: unknown) => {
      if (!ANSWERS.some((answer) => err instanceof answer)) storeErrors.inc({ operation });
      throw err;
    };
    wrapped[name] = (...args: unknown[]) => {
      try {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(inner, args);
        return result instanceof Promise ? result.catch(fail) : result;
      } catch (err) {
        return fail(err);
      }
    };
  }
  return wrapped as T;
}

/** `store` with every call's failure counted; anything else it has (a pool) is left as it is. */
export function countStoreErrors<S extends Store>(store: S): S {
  return {
    ...store,
    learners: counted("learners", store.learners),
    progress: counted("progress", store.progress),
    classes: counted("classes", store.classes),
    instructorSessions: counted("instructorSessions", store.instructorSessions),
  };
}
