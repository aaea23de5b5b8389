// The store's failures as /metrics counts them, on a real SQLite store: a refusal its contract
// promises is an answer and is not counted; a call to a closed store is a failure and is, by
// method; what the store answers is passed through unchanged.
import { describe, expect, it } from "vitest";

import { storeErrors } from "../metrics";
import { countStoreErrors } from "./counted-store";
import { openSqliteStore } from "./sqlite-store";
import { CLASS, LEARNER, OTHER_CLASS, classRecord } from "./store-fixtures";
import { ClassCodeTakenError, StoreClosedError } from "./store";

async function failures(operation: string): Promise<number> {
  const { values } = await storeErrors.get();
  return values.find((v) => v.labels.operation === operation)?.value ?? 0;
}

describe("countStoreErrors", () => {
  it("counts failed calls by method, not the refusals the store promises, and passes answers through", async () => {
    const store = countStoreErrors(openSqliteStore(":memory:"));
    const code = classRecord().code;
    await store.classes.create(classRecord({ id: CLASS }));
    expect((await store.classes.get(CLASS))?.id).toBe(CLASS);
    const taken = await failures("classes.create");
    await expect(store.classes.create(classRecord({ id: OTHER_CLASS, code }))).rejects.toBeInstanceOf(ClassCodeTakenError);
    expect(await failures("classes.create")).toBe(taken);

    await store.close();
    const [list, ensure] = [await failures("classes.list"), await failures("learners.ensure")];
    await expect(store.classes.list()).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.learners.ensure(LEARNER, 1)).rejects.toBeInstanceOf(StoreClosedError);
    expect(await failures("classes.list")).toBe(list + 1);
    expect(await failures("learners.ensure")).toBe(ensure + 1);
  });
});
