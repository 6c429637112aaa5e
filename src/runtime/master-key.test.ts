import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, it, expect } from 'vitest'
import { generateMasterKey, resolveMasterKey } from './master-key.ts'

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

const dataDir = (): string => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-master-key-'))
  directories.push(root)
  return join(root, 'data')
}

describe('resolveMasterKey', () => {
  it('uses the configured key and writes nothing', () => {
    const directory = dataDir()
    expect(resolveMasterKey({ configured: 'gh-configured', dataDir: directory })).toEqual({
      key: 'gh-configured',
      generated: false,
      source: 'configured',
    })
    expect(() => statSync(directory)).toThrow()
  })

  it('generates a key once, stores it with mode 0600, and reuses it on the next start', () => {
    const directory = dataDir()
    const first = resolveMasterKey({ dataDir: directory })
    expect(first.generated).toBe(true)
    expect(first.key).toMatch(/^gh-[A-Za-z0-9_-]{43}$/)
    const file = join(directory, 'master-key')
    expect(first.file).toBe(file)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(directory).mode & 0o777).toBe(0o700)
    expect(readFileSync(file, 'utf8').trim()).toBe(first.key)

    const second = resolveMasterKey({ dataDir: directory })
    expect(second).toEqual({ key: first.key, generated: false, source: 'file', file })
  })

  it('reads a key an operator wrote by hand, ignoring surrounding whitespace', () => {
    const directory = dataDir()
    mkdirSync(directory)
    writeFileSync(join(directory, 'master-key'), '  my-own-key \n')
    expect(resolveMasterKey({ dataDir: directory }).key).toBe('my-own-key')
  })

  it('refuses an empty key file rather than accepting an empty key', () => {
    const directory = dataDir()
    mkdirSync(directory)
    writeFileSync(join(directory, 'master-key'), '\n')
    expect(() => resolveMasterKey({ dataDir: directory })).toThrow(/empty: delete it/)
  })

  it('generates a different key each time', () => {
    expect(generateMasterKey()).not.toBe(generateMasterKey())
  })
})
