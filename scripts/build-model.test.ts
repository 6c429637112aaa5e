import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEmbeddingModelFiles,
  embeddingModelName,
  embeddingModelVersion,
} from './tiny-model/write-embedding-model.ts'
import {
  createTinyModelFiles,
  tinyModelName,
  tinyModelVersion,
} from './tiny-model/write-tiny-model.ts'

const script = fileURLToPath(new URL('build-model.ts', import.meta.url))
let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'build-model-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('npm run model:build', () => {
  it('writes both models into their versioned folders under --out, and nothing else', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', script, '--out', root],
      { encoding: 'utf8' }
    )
    expect(stdout).toContain(`${tinyModelName}/${tinyModelVersion}: `)
    expect(stdout).toContain(`${embeddingModelName}/${embeddingModelVersion}: `)
    expect((await readdir(root)).sort()).toEqual([tinyModelName, embeddingModelName].sort())
    for (const [name, version, files] of [
      [tinyModelName, tinyModelVersion, createTinyModelFiles().files],
      [embeddingModelName, embeddingModelVersion, createEmbeddingModelFiles().files],
    ] as const) {
      expect(await readdir(join(root, name))).toEqual([String(version)])
      for (const [path, content] of files) {
        const written = await readFile(join(root, name, String(version), path))
        expect(written.equals(Buffer.from(content)), `${name}/${path}`).toBe(true)
      }
    }
  })
})
