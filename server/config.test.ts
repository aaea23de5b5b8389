import { describe, expect, it } from "vitest";

import { loadConfig } from "./config";

/** An environment with only these variables (Next's global types make NODE_ENV a required key). */
function env(variables: Record<string, string> = {}): NodeJS.ProcessEnv {
  return variables as unknown as NodeJS.ProcessEnv;
}

describe("loadConfig", () => {
  it("takes the run directory from NSLAB_RUN_DIR, /run/nslab by default", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab");
    expect(loadConfig(env({ NSLAB_RUN_DIR: "/run/nslab-2" }), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab-2");
  });

  it("refuses the old name NSLAB_STATE_DIR alone rather than ignoring it", () => {
    expect(() => loadConfig(env({ NSLAB_STATE_DIR: "/run/elsewhere" }), "/opt/nslab")).toThrow("NSLAB_STATE_DIR was renamed NSLAB_RUN_DIR; set that instead");
    expect(loadConfig(env({ NSLAB_STATE_DIR: "/run/elsewhere", NSLAB_RUN_DIR: "/run/nslab-2" }), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab-2");
  });

  it("leaves the start concurrency to the host unless NSLAB_START_CONCURRENCY sets it, and refuses 0", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_START_CONCURRENCY).toBeUndefined();
    expect(loadConfig(env({ NSLAB_START_CONCURRENCY: "4" }), "/opt/nslab").NSLAB_START_CONCURRENCY).toBe(4);
    expect(() => loadConfig(env({ NSLAB_START_CONCURRENCY: "0" }), "/opt/nslab")).toThrow(/NSLAB_START_CONCURRENCY/);
  });

  it("names the variable whose value is bad", () => {
    expect(() => loadConfig(env({ NSLAB_RUN_DIR: "relative/dir" }), "/opt/nslab")).toThrow(/NSLAB_RUN_DIR/);
  });
});
