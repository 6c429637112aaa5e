import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const probe = fileURLToPath(new URL('./promise-probe.mjs', import.meta.url))
const folders: string[] = []
afterEach(() => {
  for (const made of folders.splice(0)) rmSync(made, { recursive: true, force: true })
})

/** Runs `script` on plain node with the probe preloaded, keeping its count in a folder; resolves with what it kept. */
const countOf = (script: string): Promise<number> => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-promise-probe-'))
  folders.push(directory)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', probe, '-e', script], {
      env: { PATH: process.env.PATH, GATEHOUSE_BENCH_GC_DIR: directory },
      stdio: 'ignore',
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`exited with ${code}`))
      const kept = JSON.parse(
        readFileSync(join(directory, `${child.pid}.promises.json`), 'utf8')
      ) as { promises: number }
      resolve(kept.promises)
    })
  })
}

describe('promise-probe.mjs', () => {
  it('counts the promises a process makes, and its awaits', async () => {
    // Long enough after the work for the probe to write its count (it writes at most every 50 ms).
    const idle = await countOf('setTimeout(() => {}, 300)')
    const made = await countOf(
      [
        'const work = async () => { for (let i = 0; i < 1000; i++) await Promise.resolve(i) }',
        'work().then(() => setTimeout(() => {}, 300))',
      ].join('\n')
    )
    // 1,000 `Promise.resolve`, and the promises V8 makes for the awaits, the async function and the `then` (2,002 in
    // all on Node 20; fewer where a runtime makes fewer for an await).
    expect(made - idle).toBeGreaterThanOrEqual(1_000)
    expect(made - idle).toBeLessThan(2_100)
  })
})
