import { describe, expect, it } from 'vitest'
import { prependMember, replaceTopLevelString } from './edit-json-text.ts'
import { seededRandom } from '../../test/helpers/seeded-random.ts'

const pieces = [
  'model',
  'gpt-4o',
  'gpt-4o-mini',
  '"',
  '\\',
  ':',
  '{',
  '}',
  ',',
  ' ',
  'é',
  '😀',
  '\n',
  'a',
]
const keys = ['model', 'messages', 'content', 'stream', 'metadata', 'x"model', 'model"', 'mod']

/** JSON text of `value` with random spacing and, sometimes, `\u` escapes where JSON allows them. */
const serialize = (value: unknown, random: () => number): string => {
  const space = (): string => [' ', '', '\n  ', '\t', ''][Math.floor(random() * 5)]
  const string = (text: string): string => {
    const plain = JSON.stringify(text)
    if (random() >= 0.15) return plain
    // Spell one ASCII letter as an escape: the same value, another text.
    const letter = plain.search(/[a-z]/)
    return letter === -1
      ? plain
      : `${plain.slice(0, letter)}\\u${plain.charCodeAt(letter).toString(16).padStart(4, '0')}${plain.slice(letter + 1)}`
  }
  if (typeof value === 'string') return string(value)
  if (Array.isArray(value))
    return `[${space()}${value.map((item) => serialize(item, random)).join(`,${space()}`)}${space()}]`
  if (typeof value === 'object' && value !== null)
    return `{${space()}${Object.entries(value)
      .map(([key, item]) => `${string(key)}${space()}:${space()}${serialize(item, random)}`)
      .join(`,${space()}`)}${space()}}`
  return JSON.stringify(value)
}

const randomString = (random: () => number): string =>
  Array.from(
    { length: Math.floor(random() * 4) },
    () => pieces[Math.floor(random() * pieces.length)]
  ).join('')

const randomValue = (random: () => number, depth: number): unknown => {
  const kind = Math.floor(random() * (depth > 2 ? 3 : 5))
  if (kind === 0) return randomString(random)
  if (kind === 1) return Math.floor(random() * 100)
  if (kind === 2) return random() < 0.5
  if (kind === 3)
    return Array.from({ length: Math.floor(random() * 3) }, () => randomValue(random, depth + 1))
  return randomObject(random, depth + 1)
}

const randomObject = (random: () => number, depth: number): Record<string, unknown> => {
  const object: Record<string, unknown> = {}
  for (let count = Math.floor(random() * 4); count > 0; count -= 1)
    object[keys[Math.floor(random() * keys.length)]] = randomValue(random, depth)
  return object
}

describe('replaceTopLevelString', () => {
  it('gives the text of the body with the new value whenever it edits, over random bodies and spellings', () => {
    let edited = 0
    for (let seed = 1; seed <= 3000; seed += 1) {
      const random = seededRandom(seed)
      const body = randomObject(random, 0)
      body.model = random() < 0.5 ? 'gpt-4o' : randomString(random)
      const text = serialize(body, random)
      const parsed = JSON.parse(text) as Record<string, unknown>
      const next = random() < 0.5 ? 'gpt-4o-mini' : randomString(random)
      const result = replaceTopLevelString(text, 'model', parsed.model as string, next)
      if (result === undefined) continue
      edited += 1
      expect(JSON.parse(result), `seed ${seed}: ${text}`).toEqual({ ...parsed, model: next })
    }
    // The edit is made for most bodies (the rest have a second "model" key or an escaped spelling).
    expect(edited).toBeGreaterThan(1500)
  })

  it('edits in place, keeping everything else of the text', () => {
    expect(
      replaceTopLevelString(
        '{ "messages": [{"content": "the \\"model\\" is"}],\n "model" :\t"openai/gpt-4o" , "n": 1.0 }',
        'model',
        'openai/gpt-4o',
        'gpt-4o'
      )
    ).toBe('{ "messages": [{"content": "the \\"model\\" is"}],\n "model" :\t"gpt-4o" , "n": 1.0 }')
    // The string "model" as a value, not a key, does not count.
    expect(replaceTopLevelString('{"a":"model","model":"x"}', 'model', 'x', 'y')).toBe(
      '{"a":"model","model":"y"}'
    )
  })

  it('refuses what it cannot be sure of', () => {
    // Two keys named so (nested, or a duplicate the parser resolved).
    expect(replaceTopLevelString('{"model":"a","m":{"model":"a"}}', 'model', 'a', 'b')).toBe(
      undefined
    )
    expect(replaceTopLevelString('{"model":"z","model":"a"}', 'model', 'a', 'b')).toBe(undefined)
    // The value spelled with an escape, or not the value the body holds.
    expect(replaceTopLevelString('{"model":"\\u0061"}', 'model', 'a', 'b')).toBe(undefined)
    expect(replaceTopLevelString('{"model":"gpt-4o-mini"}', 'model', 'gpt-4o', 'b')).toBe(undefined)
    // No key spelled plainly.
    expect(replaceTopLevelString('{"m\\u006fdel":"a"}', 'model', 'a', 'b')).toBe(undefined)
  })
})

describe('prependMember', () => {
  it('adds the member first, over random bodies and spellings', () => {
    let edited = 0
    for (let seed = 1; seed <= 2000; seed += 1) {
      const random = seededRandom(seed)
      const body = randomObject(random, 0)
      delete body.stream
      const text = serialize(body, random)
      const parsed = JSON.parse(text) as Record<string, unknown>
      const result = prependMember(text, 'stream', '{"include_usage":true}')
      if (Object.keys(parsed).length === 0) {
        expect(result).toBe(undefined)
        continue
      }
      edited += 1
      expect(JSON.parse(result!), `seed ${seed}: ${text}`).toEqual({
        ...parsed,
        stream: { include_usage: true },
      })
    }
    expect(edited).toBeGreaterThan(1000)
  })

  it('refuses an empty object or a text that is not an object', () => {
    expect(prependMember('{ }', 'a', '1')).toBe(undefined)
    expect(prependMember('[1]', 'a', '1')).toBe(undefined)
    expect(prependMember(' \n{"b":2}', 'a', '1')).toBe(' \n{"a":1,"b":2}')
  })
})
