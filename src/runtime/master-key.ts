/**
 * The master key when none is configured: generated once, stored in `<dataDir>/master-key` (mode 0600, directory
 * 0700) and reused on every restart, so `npx gatehouse` is protected from the first request without a setup step.
 * The CLI prints a generated key once, to the terminal; a reused key is never printed again (only its file path).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export type MasterKeySource = 'configured' | 'file' | 'generated'

export type ResolvedMasterKey = {
  key: string
  /** True only on the start that created the key file: the one time the CLI shows the key. */
  generated: boolean
  source: MasterKeySource
  /** The key file, when the key came from or went to one. */
  file?: string
}

/** `gh-` + 32 random bytes: the prefix lets log redaction and secret scanners recognise the key. */
export const generateMasterKey = (): string => `gh-${randomBytes(32).toString('base64url')}`

const readKeyFile = (file: string): string | undefined => {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`Cannot read the master key file ${file}: ${(error as Error).message}`, {
      cause: error,
    })
  }
  const key = text.trim()
  if (key === '')
    throw new Error(`The master key file ${file} is empty: delete it to generate a new key.`)
  return key
}

export const resolveMasterKey = (options: {
  configured?: string
  dataDir: string
}): ResolvedMasterKey => {
  if (options.configured !== undefined)
    return { key: options.configured, generated: false, source: 'configured' }
  const file = join(options.dataDir, 'master-key')
  const existing = readKeyFile(file)
  if (existing !== undefined) return { key: existing, generated: false, source: 'file', file }

  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const key = generateMasterKey()
  try {
    // `wx`: when two processes start together, the second one reads the first one's key instead of replacing it.
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = readKeyFile(file)
    if (winner !== undefined) return { key: winner, generated: false, source: 'file', file }
    throw error
  }
  return { key, generated: true, source: 'generated', file }
}
