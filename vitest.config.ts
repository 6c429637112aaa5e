import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

/**
 * Four parts, each runnable alone (`vitest run --project 'unit*'`, or `npm run test:unit`); `vitest run` runs them
 * all. The includes partition every `*.test.ts` of the repository, so a new test file always lands in exactly one
 * project: `unit` and `unit-alone` are everything outside `test/` (tests beside their code) but the benchmark smoke
 * run, `integration` and `integration-alone` everything in `test/` but the Workers and browser folders, plus that
 * smoke run (it builds and spawns the gateway); `workers` and `browser` are those two folders.
 * Each project inherits the settings below (`extends: true`).
 *
 * Files run two at a time (Vitest's default on two cores is one: most of these files wait on processes and sockets),
 * in workers that stay up from one file to the next (`isolate: false`: the modules a file imports are loaded once a
 * worker, not once a file, which was a fifth of the suite's time). No test file may rely on a module's state being
 * fresh: each starts, and stops, what it uses. The few files that load both cores or judge the machine's timing (a
 * benchmark, the local model's inference, a query bound) are split off into `unit-alone` and `integration-alone`,
 * which run one file at a time, isolated, after everything else, so they neither slow nor are slowed by the rest.
 */
const excluded = ['node_modules/**', 'dist/**', '.wrangler/**']
const alone = {
  unit: [
    'providers/local/local-worker-pool.test.ts',
    'providers/local/local-adapter.test.ts',
    'bench/paced-load.test.ts',
    'bench/paced-streams.test.ts',
  ],
  integration: [
    'bench/smoke.test.ts',
    'test/integration/local-model.test.ts',
    'test/integration/local-embeddings.test.ts',
    'test/contract/usage-store-at-scale.test.ts',
  ],
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { SCARF_ANALYTICS: 'false' },
    maxWorkers: Math.max(2, availableParallelism() - 1),
    isolate: false,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...excluded, 'test/**', ...alone.integration, ...alone.unit],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...excluded, 'test/workers/**', 'test/browser/**', ...alone.integration],
        },
      },
      // Isolated with one worker: Vitest runs these last, one file at a time.
      {
        extends: true,
        test: { name: 'unit-alone', include: alone.unit, maxWorkers: 1, isolate: true },
      },
      {
        extends: true,
        test: {
          name: 'integration-alone',
          include: alone.integration,
          maxWorkers: 1,
          isolate: true,
        },
      },
      {
        extends: true,
        test: { name: 'workers', include: ['test/workers/**/*.test.ts'], exclude: excluded },
      },
      {
        extends: true,
        test: { name: 'browser', include: ['test/browser/**/*.test.ts'], exclude: excluded },
      },
    ],
  },
})
