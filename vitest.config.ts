import { defineConfig } from 'vitest/config'

/**
 * Four projects, each runnable alone (`vitest run --project unit`, or `npm run test:unit`); `vitest run` runs them all.
 * The includes partition every `*.test.ts` of the repository, so a new test file always lands in exactly one project:
 * `unit` is everything outside `test/` (tests beside their code) but the benchmark smoke run, `integration` is
 * everything in `test/` but the Workers and browser folders, plus that smoke run (it builds and spawns the gateway).
 * Each project inherits the settings below (`extends: true`).
 */
const excluded = ['node_modules/**', 'dist/**', '.wrangler/**']
const benchSmoke = 'bench/smoke.test.ts'

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { SCARF_ANALYTICS: 'false' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...excluded, 'test/**', benchSmoke],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts', benchSmoke],
          exclude: [...excluded, 'test/workers/**', 'test/browser/**'],
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
