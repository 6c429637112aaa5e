import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  serveNodeFlags,
  serveV8Flags,
  serveV8FlagsToSet,
  withServeNodeFlags,
} from './serve-node-flags.ts'

/**
 * Runs, in a fresh Node process, a loop whose one object literal keeps its objects alive across scavenges (the
 * pattern V8 pretenures), with V8's pretenuring trace on, after `applyServeV8Flags` when `apply`; returns how many
 * sites V8 decided to allocate old (`=> tenure` or `=> maybe tenure`).
 */
const pretenuringDecisions = (apply: boolean): number => {
  const module = new URL('./serve-node-flags.ts', import.meta.url).href
  const script = [
    `import { setFlagsFromString } from 'node:v8'`,
    `import { applyServeV8Flags } from ${JSON.stringify(module)}`,
    apply ? 'applyServeV8Flags([], "")' : '',
    `setFlagsFromString('--trace-pretenuring-statistics')`,
    'const kept = []',
    'const make = (i) => ({ a: i, b: [i, i + 1], c: { d: i } })',
    'for (let round = 0; round < 200; round++) {',
    '  for (let i = 0; i < 20000; i++) kept.push(make(i))',
    '  if (kept.length > 100000) kept.splice(0, 50000)',
    '}',
  ].join('\n')
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }
  )
  return output.split('\n').filter((line) => /=> (?:maybe )?tenure\b/.test(line)).length
}

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
      '--max-semi-space-size=16',
      '--heap-growing-percent=50',
    ])
    expect(withServeNodeFlags(['--heap-growing-percent=0'])).toEqual([
      '--heap-growing-percent=0',
      '--max-semi-space-size=16',
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

  it('set V8 flags in the running process unless the operator set them, either way', () => {
    expect(serveV8FlagsToSet([])).toEqual(['--no-allocation-site-pretenuring'])
    expect(serveV8FlagsToSet(['--allocation-site-pretenuring'])).toEqual([])
    expect(serveV8FlagsToSet([], '--no_allocation_site_pretenuring')).toEqual([])
    expect(serveV8Flags.every((flag) => !serveNodeFlags.includes(flag))).toBe(true)
  })

  it('are set by `gatehouse serve` before the server starts, in a single process or a cluster worker', () => {
    const bin = readFileSync(new URL('../../bin/gatehouse.js', import.meta.url), 'utf8')
    const serve = bin.slice(bin.indexOf('const serve = {'))
    const applied = serve.indexOf('.applyServeV8Flags()')
    expect(applied).toBeGreaterThan(0)
    for (const start of ['runClusterWorker(', 'startNodeServer(', 'startServeCluster('])
      expect(serve.indexOf(start)).toBeGreaterThan(applied)
  })

  it('stop V8 from pretenuring once set in a running process', { timeout: 30_000 }, () => {
    // The loop makes V8 pretenure without the flags: proof that the check below can fail.
    expect(pretenuringDecisions(false)).toBeGreaterThan(0)
    expect(pretenuringDecisions(true)).toBe(0)
  })
})
