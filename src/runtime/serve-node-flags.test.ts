import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { serveNodeFlags, withServeNodeFlags } from './serve-node-flags.ts'

describe('serve node flags', () => {
  it('adds each flag the operator did not set', () => {
    expect(withServeNodeFlags(['--enable-source-maps'])).toEqual([
      '--enable-source-maps',
      ...serveNodeFlags,
    ])
  })

  it('leaves a flag the operator set, on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(withServeNodeFlags(['--max-semi-space-size=64'])).toEqual([
      '--max-semi-space-size=64',
      '--single-threaded-gc',
      '--heap-growing-percent=50',
    ])
    expect(withServeNodeFlags([], '--inspect --max_semi_space_size=8')).toEqual([
      '--single-threaded-gc',
      '--heap-growing-percent=50',
    ])
    expect(withServeNodeFlags(['--no-single-threaded-gc'])).toEqual([
      '--no-single-threaded-gc',
      '--max-semi-space-size=32',
      '--heap-growing-percent=50',
    ])
    expect(withServeNodeFlags(['--heap-growing-percent=0'])).toEqual([
      '--heap-growing-percent=0',
      '--max-semi-space-size=32',
      '--single-threaded-gc',
    ])
  })

  it('are the flags `npm start` runs the server with', () => {
    const packageJson = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
    ) as { scripts: Record<string, string> }
    expect(packageJson.scripts.start).toBe(
      `node ${serveNodeFlags.join(' ')} bin/gatehouse.js serve`
    )
  })
})
