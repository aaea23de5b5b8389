import { defineConfig } from "vitest/config";

// Unit and integration tests sit beside the code (*.test.ts). Integration tests start real
// sandboxes, so they run one file at a time per worker and get generous timeouts; none of
// them asserts a wall-clock duration.
export default defineConfig({
  test: {
    include: ["common/**/*.test.ts", "server/**/*.test.ts", "components/**/*.test.ts", "lessons/**/*.test.ts", "bin/**/*.test.ts", "native/**/*.test.ts", "scripts/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
