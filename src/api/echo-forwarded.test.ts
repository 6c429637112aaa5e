import { describe, expect, it } from 'vitest'
import responsesTextSse from '../../providers/openai/__fixtures__/responses-text.sse?raw'
import { composeRewrites, createEchoRewrite, echoIntoBody } from './echo-forwarded.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const echo = { previous_response_id: 'resp_abc$1' }

/** Runs `text` through a rewrite in chunks of `size` bytes (cutting lines, keys and UTF-8 characters). */
const rewritten = (text: string, size: number, create = createEchoRewrite(echo)): string => {
  const rewrite = create()
  const bytes = encoder.encode(text)
  const parts: Uint8Array[] = []
  for (let offset = 0; offset < bytes.length; offset += size)
    parts.push(rewrite.push(bytes.subarray(offset, offset + size)))
  parts.push(rewrite.end())
  return parts.map((part) => decoder.decode(part, { stream: true })).join('') + decoder.decode()
}

describe('echo into forwarded Responses answers', () => {
  it('puts the echoed field in every Response of a stream, wherever the chunks are cut', () => {
    const expected = responsesTextSse.replaceAll(
      '"previous_response_id":null',
      '"previous_response_id":"resp_abc$1"'
    )
    expect(expected).not.toBe(responsesTextSse)
    for (const size of [1, 2, 3, 7, 64, 100_000])
      expect(rewritten(responsesTextSse, size)).toBe(expected)
    const events = expected.split('\n').filter((line) => line.startsWith('data: {'))
    for (const line of events) JSON.parse(line.slice(6))
  })

  it('leaves a field that is not null, and text that only quotes the field, as they are', () => {
    const text =
      'data: {"response":{"previous_response_id":"resp_other","output_text":"say \\"previous_response_id\\":null"}}\n\n'
    expect(rewritten(text, 5)).toBe(text)
  })

  it('rewrites a whole body, pretty-printed too', () => {
    const body = '{\n  "id": "resp_1",\n  "previous_response_id": null,\n  "output": []\n}'
    expect(decoder.decode(echoIntoBody(encoder.encode(body), echo))).toBe(
      '{\n  "id": "resp_1",\n  "previous_response_id": "resp_abc$1",\n  "output": []\n}'
    )
    expect(echoIntoBody(encoder.encode(body), {})).toEqual(encoder.encode(body))
  })

  it('composes with the adapter’s own rewrite, the adapter’s first', () => {
    const upper = () => ({
      push: (chunk: Uint8Array) => encoder.encode(decoder.decode(chunk).replaceAll('null', 'NULL')),
      end: () => new Uint8Array(0),
    })
    const text = 'data: {"previous_response_id":null,"x":null}\n\n'
    expect(rewritten(text, 100, composeRewrites(upper, createEchoRewrite(echo)))).toBe(
      'data: {"previous_response_id":NULL,"x":NULL}\n\n'
    )
    expect(rewritten(text, 100, composeRewrites(undefined, createEchoRewrite(echo)))).toBe(
      'data: {"previous_response_id":"resp_abc$1","x":null}\n\n'
    )
  })
})
