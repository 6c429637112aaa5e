import { describe, expect, it } from 'vitest'
import type { EmbedResult } from '../../../providers/spec/embedding-types.ts'
import { convertToOpenAIEmbeddings } from './convert-to-openai-embeddings.ts'

const result: EmbedResult = {
  model: 'tiny-embed',
  embeddings: [new Float32Array([0.1, -0.5]), new Float32Array([1, 0])],
  usage: {
    inputTokens: 7,
    outputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningTokens: 0,
  },
}

/** How the official SDK decodes a base64 embedding (openai-node `toFloat32Array`). */
const decodeBase64 = (text: string): number[] =>
  Array.from(new Float32Array(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer))

describe('convertToOpenAIEmbeddings', () => {
  it('writes the float32 values exactly, in input order, with usage as OpenAI counts it', () => {
    const body = JSON.parse(convertToOpenAIEmbeddings(result, 'float'))
    expect(body).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [Math.fround(0.1), -0.5] },
        { object: 'embedding', index: 1, embedding: [1, 0] },
      ],
      model: 'tiny-embed',
      usage: { prompt_tokens: 7, total_tokens: 7 },
    })
  })

  it('writes base64 of the little-endian float32 bytes, which the SDK decodes to the same values', () => {
    const body = JSON.parse(convertToOpenAIEmbeddings(result, 'base64'))
    expect(body.data[0].embedding).toBe('zczMPQAAAL8=')
    expect(decodeBase64(body.data[0].embedding)).toEqual(Array.from(result.embeddings[0]))
    expect(decodeBase64(body.data[1].embedding)).toEqual([1, 0])
  })

  it('encodes a vector that is a view into a larger buffer from its own bytes only', () => {
    const all = new Float32Array([9, 0.25, 0.5, 9])
    const view = { ...result, embeddings: [all.subarray(1, 3)] }
    const body = JSON.parse(convertToOpenAIEmbeddings(view, 'base64'))
    expect(decodeBase64(body.data[0].embedding)).toEqual([0.25, 0.5])
  })
})
