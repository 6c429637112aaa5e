import { describe, expect, it } from 'vitest'
import { headerSafe } from './header-safe.ts'

describe('headerSafe', () => {
  it('keeps printable ASCII as it is, the same string', () => {
    const name = 'openai/gpt-4o-mini (2024-07-18) ~ v1'
    expect(headerSafe(name)).toBe(name)
  })

  it('percent-encodes every other character as its UTF-8 bytes, so Node and Headers both take it', () => {
    const cases = [
      'gpt-ő',
      'gpt-4o-mini\n',
      'a\u0000b',
      'tab\there',
      'é',
      '模型',
      'lone \ud800 surrogate',
    ]
    const encoded = cases.map(headerSafe)
    expect(encoded).toEqual([
      'gpt-%C5%91',
      'gpt-4o-mini%0A',
      'a%00b',
      'tab%09here',
      '%C3%A9',
      '%E6%A8%A1%E5%9E%8B',
      'lone %EF%BF%BD surrogate',
    ])
    for (const value of encoded) {
      expect(() => new Headers({ 'x-gatehouse-model': value })).not.toThrow()
      expect(value).toMatch(/^[\x20-\x7e]*$/)
    }
    expect(decodeURIComponent(encoded[0])).toBe('gpt-ő')
  })
})
