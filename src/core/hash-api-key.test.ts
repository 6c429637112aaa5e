import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { generateApiKey } from './generate-api-key.ts'
import { equalInConstantTime, hashApiKey } from './hash-api-key.ts'

describe('hashApiKey', () => {
  it('is the SHA-256 of the key as lowercase hex', async () => {
    // The FIPS 180-2 test vector, and a generated key checked against node:crypto.
    expect(await hashApiKey('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    )
    const { key } = generateApiKey()
    expect(await hashApiKey(key)).toBe(createHash('sha256').update(key).digest('hex'))
  })

  it('gives different keys different hashes', async () => {
    const [a, b] = [generateApiKey().key, generateApiKey().key]
    expect(await hashApiKey(a)).not.toBe(await hashApiKey(b))
  })
})

describe('equalInConstantTime', () => {
  it('is true only for identical strings', async () => {
    const hash = await hashApiKey('one')
    expect(equalInConstantTime(hash, `${hash}`)).toBe(true)
    expect(equalInConstantTime(hash, await hashApiKey('two'))).toBe(false)
    expect(equalInConstantTime(hash, `${hash.slice(0, -1)}0`)).toBe(hash.endsWith('0'))
    expect(equalInConstantTime(hash, hash.slice(0, -1))).toBe(false)
    expect(equalInConstantTime('', '')).toBe(true)
  })
})
