import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** For test/contract/harness.test.ts alone: runs the fixture suites of this folder in a child vitest. */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['*.fixture.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
