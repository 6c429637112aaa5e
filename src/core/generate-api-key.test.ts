import { describe, expect, it } from 'vitest'
import {
  apiKeyDisplayPrefix,
  generateApiKey,
  isApiKeyShaped,
  randomBase62,
} from './generate-api-key.ts'

describe('generateApiKey', () => {
  it('makes a gh- key of 43 base62 characters, with its display prefix', () => {
    const { key, displayPrefix } = generateApiKey()
    expect(key).toMatch(/^gh-[0-9A-Za-z]{43}$/)
    expect(displayPrefix).toBe(key.slice(0, 9))
    expect(apiKeyDisplayPrefix(key)).toBe(displayPrefix)
    expect(isApiKeyShaped(key)).toBe(true)
  })

  it('never repeats a key', () => {
    const keys = new Set(Array.from({ length: 2_000 }, () => generateApiKey().key))
    expect(keys.size).toBe(2_000)
  })

  it('draws every base62 character about equally often (no modulo bias)', () => {
    const counts = new Map<string, number>()
    const text = randomBase62(124_000)
    expect(text).toHaveLength(124_000)
    for (const character of text) counts.set(character, (counts.get(character) ?? 0) + 1)
    expect(counts.size).toBe(62)
    // 2,000 expected per character; modulo 62 over bytes would give the first 8 characters about 2,500.
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(1_800)
      expect(count).toBeLessThan(2_200)
    }
  })
})

describe('isApiKeyShaped', () => {
  it('refuses what generateApiKey cannot make', () => {
    const { key } = generateApiKey()
    expect(isApiKeyShaped(key.slice(0, -1))).toBe(false)
    expect(isApiKeyShaped(`${key}x`)).toBe(false)
    expect(isApiKeyShaped(`sk-${key.slice(3)}`)).toBe(false)
    expect(isApiKeyShaped(`${key.slice(0, -1)}-`)).toBe(false)
    expect(isApiKeyShaped('')).toBe(false)
  })
})
