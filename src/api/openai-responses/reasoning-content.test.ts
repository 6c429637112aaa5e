import { describe, expect, it } from 'vitest'
import { decodeReasoningContent, encodeReasoningContent } from './reasoning-content.ts'

const signature =
  'EqQBCkgIARABGAIiQL2p3sig+/Zm9vYmFyYmF6cXV4Cg==EpwBCkYIBRgCKkDkR0s1L9rXcVh2eLNU5q8p7mF3Q6v8H1s='

describe('encodeReasoningContent', () => {
  it('writes a versioned, prefixed, URL-safe value for a signed thinking block', () => {
    const encoded = encodeReasoningContent({ type: 'reasoning', text: 'Let me think.', signature })
    expect(encoded).toMatch(/^gatehouse:reasoning:v1:[A-Za-z0-9_-]+$/)
    // The payload is the JSON of what must be replayed, nothing else (not the thinking text).
    const payload = encoded!.slice('gatehouse:reasoning:v1:'.length)
    const json = atob(payload.replaceAll('-', '+').replaceAll('_', '/'))
    expect(JSON.parse(json)).toEqual({ signature })
  })

  it('is null when there is nothing to replay', () => {
    expect(encodeReasoningContent({ type: 'reasoning', text: 'unsigned' })).toBeNull()
    expect(encodeReasoningContent({ type: 'reasoning', text: 'x', signature: '' })).toBeNull()
  })
})

describe('decodeReasoningContent', () => {
  it('gives back exactly what was encoded: a signature, redacted data, or both', () => {
    for (const part of [
      { type: 'reasoning' as const, text: 'a', signature },
      { type: 'reasoning' as const, text: '', redactedData: 'EmwKAhgBEgy3va3pzix/LafPsn4a' },
      { type: 'reasoning' as const, text: '', redactedData: '' },
      { type: 'reasoning' as const, text: 'b', signature: 'sig-é-✓', redactedData: 'Zm9v' },
    ]) {
      const expected: Record<string, string> = {}
      if (part.signature !== undefined) expected.signature = part.signature
      if (part.redactedData !== undefined) expected.redactedData = part.redactedData
      expect(decodeReasoningContent(encodeReasoningContent(part)!)).toEqual(expected)
    }
  })

  it('is null for what it did not write: OpenAI encrypted reasoning, another version, damaged values', () => {
    const valid = encodeReasoningContent({ type: 'reasoning', text: 'a', signature })!
    const payload = valid.slice('gatehouse:reasoning:v1:'.length)
    const b64url = (text: string) =>
      btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
    for (const text of [
      'gAAAAABoISQ24Oy_Slx6v3zYl2nvZkRCpe9yfCvhTR6A5Ma6_Hw0cpUOpN0yWSjMeiGYnPW',
      '',
      `gatehouse:reasoning:v2:${payload}`,
      `gatehouse:reasoning:v1:${payload}!`,
      `gatehouse:reasoning:v1:${payload.slice(0, -3)}`,
      `gatehouse:reasoning:v1:${b64url('[1,2]')}`,
      `gatehouse:reasoning:v1:${b64url('null')}`,
      `gatehouse:reasoning:v1:${b64url('{"signature":42}')}`,
      `gatehouse:reasoning:v1:${b64url('{}')}`,
      `gatehouse:reasoning:v1:${b64url('\xff\xfe')}`,
    ]) {
      expect(decodeReasoningContent(text), text).toBeNull()
    }
  })
})
