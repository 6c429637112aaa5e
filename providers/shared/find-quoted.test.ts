import { describe, expect, it } from 'vitest'
import { createQuotedFinder } from './find-quoted.ts'
import { seededRandom } from '../../test/helpers/seeded-random.ts'

/** The plain search the finder must agree with. */
const naive = (text: string, name: string, from: number): number =>
  text.indexOf(`"${name}"`, Math.max(0, from))

describe('createQuotedFinder', () => {
  it('finds the quoted name where a plain indexOf would, for every start position', () => {
    const texts = [
      '{"usage":null}',
      'data: {"x":"usage","usage":{"a":1}}\n\ndata: {"error":{"m":"e"}}',
      '"usage""usage"usage"',
      'usage" "usage',
      '{"terror":1,"error":2,"rror":3}',
      '',
      '"',
      '"error"',
    ]
    for (const [name, headLength] of [
      ['usage', 1],
      ['error', 2],
      ['error', 1],
      ['model', 3],
    ] as const) {
      const find = createQuotedFinder(name, headLength)
      for (const text of texts) {
        for (let from = -1; from <= text.length + 1; from++)
          expect(find(text, from), `${name} in ${text} from ${from}`).toBe(naive(text, name, from))
      }
    }
  })

  it('agrees with indexOf on random JSON-like text', () => {
    const alphabet = [
      '"',
      'u',
      's',
      'a',
      'g',
      'e',
      'r',
      'o',
      ':',
      '{',
      '}',
      ' ',
      '\\',
      'usage',
      'error',
      '"usage"',
      '"error"',
    ]
    const random = seededRandom(7)
    const findUsage = createQuotedFinder('usage')
    const findError = createQuotedFinder('error', 2)
    for (let round = 0; round < 2000; round++) {
      const text = Array.from(
        { length: Math.floor(random() * 30) },
        () => alphabet[Math.floor(random() * alphabet.length)]
      ).join('')
      const from = Math.floor(random() * (text.length + 2))
      expect(findUsage(text, from)).toBe(naive(text, 'usage', from))
      expect(findError(text, from)).toBe(naive(text, 'error', from))
    }
  })

  it('refuses a head that leaves nothing to search for, or no check at all', () => {
    expect(() => createQuotedFinder('usage', 0)).toThrow(RangeError)
    expect(() => createQuotedFinder('usage', 7)).toThrow(RangeError)
  })
})
