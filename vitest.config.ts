// Two projects: `unit` (pure logic, no cluster, parallel) and `e2e` (against the real local control
// plane that e2e/support/global-setup.ts starts or reuses; files run one at a time because some of
// them restart control-plane processes and all share one 2-core machine).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    passWithNoTests: true,
    projects: [
      {
        test: {
          name: "unit",
          include: ["operators/**/*.test.ts", "agents/**/*.test.ts", "cli/**/*.test.ts", "hack/**/*.test.ts", "bench/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          globalSetup: ["e2e/support/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
