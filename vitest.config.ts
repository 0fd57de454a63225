// Two projects: `unit` (pure logic, no cluster, parallel) and `e2e` (against the real local control
// plane that e2e/support/global-setup.ts starts or reuses; files run one at a time because some of
// them restart control-plane processes and all share one 2-core machine). The e2e harness's own pure
// helpers (e2e/support/*.test.ts) are unit tests: they need no plane.
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    passWithNoTests: true,
    projects: [
      {
        test: {
          name: "unit",
          include: ["operators/**/*.test.ts", "agents/**/*.test.ts", "cli/**/*.test.ts", "hack/**/*.test.ts", "bench/**/*.test.ts", "e2e/support/**/*.test.ts", "console/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "e2e/support/**"],
          globalSetup: ["e2e/support/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
