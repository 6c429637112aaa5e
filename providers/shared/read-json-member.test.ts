import { describe, it, expect } from 'vitest'
import { readJsonMember } from './read-json-member.ts'

describe('readJsonMember', () => {
  it('reads objects, strings and scalars, with whitespace around the colon', () => {
    const text =
      '{ "model" : "gpt-4o", "n": 2, "ok":true, "usage" :\n { "prompt_tokens": 3, "details": {"a": [1, 2]} } }'
    expect(readJsonMember(text, 'model', 'first')).toEqual({ kind: 'found', value: 'gpt-4o' })
    expect(readJsonMember(text, 'n', 'first')).toEqual({ kind: 'found', value: 2 })
    expect(readJsonMember(text, 'ok', 'first')).toEqual({ kind: 'found', value: true })
    expect(readJsonMember(text, 'usage', 'last')).toEqual({
      kind: 'found',
      value: { prompt_tokens: 3, details: { a: [1, 2] } },
    })
    expect(readJsonMember(text, 'missing', 'first')).toEqual({ kind: 'absent' })
  })

  it('is not fooled by the name inside strings, escaped quotes or braces in strings, or the name as a value', () => {
    const content = JSON.stringify('say "usage": {"x": 1} and } { ] [ model')
    const text = `{"model":"m-1","choices":[{"message":{"content":${content},"role":"usage"}}],"usage":{"total_tokens":9}}`
    expect(readJsonMember(text, 'usage', 'last')).toEqual({
      kind: 'found',
      value: { total_tokens: 9 },
    })
    expect(readJsonMember(text, 'model', 'first')).toEqual({ kind: 'found', value: 'm-1' })
    const valueOnly = '{"role":"usage","usage":{"n":1}}'
    expect(readJsonMember(valueOnly, 'usage', 'first')).toEqual({ kind: 'found', value: { n: 1 } })
  })

  it('reports a member it cannot read rather than guessing', () => {
    expect(readJsonMember('{"usage":{"prompt_tokens":3', 'usage', 'last')).toEqual({
      kind: 'unreadable',
    })
    expect(readJsonMember('{"usage":nope}', 'usage', 'last')).toEqual({ kind: 'unreadable' })
  })
})
