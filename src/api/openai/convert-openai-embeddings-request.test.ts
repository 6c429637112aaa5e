import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import {
  convertOpenAIEmbeddingsRequest,
  maxEmbeddingInputs,
} from './convert-openai-embeddings-request.ts'

const convert = (body: Record<string, unknown>) =>
  convertOpenAIEmbeddingsRequest({ model: 'vectors', ...body }, 'vectors')

const refusal = (body: Record<string, unknown>): GatewayError => {
  try {
    convert(body)
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError)
    return error as GatewayError
  }
  throw new Error('expected a refusal')
}

describe('convertOpenAIEmbeddingsRequest', () => {
  it('makes one input of a string or of token ids, and one input per item of an array of either', () => {
    expect(convert({ input: 'hi' })).toEqual({ model: 'vectors', inputs: ['hi'] })
    expect(convert({ input: ['a', ''] }).inputs).toEqual(['a', ''])
    expect(convert({ input: [1, 2, 3] }).inputs).toEqual([[1, 2, 3]])
    expect(convert({ input: [[1], [2, 3]] }).inputs).toEqual([[1], [2, 3]])
  })

  it('carries dimensions and leaves out what does not change the vectors (encoding_format, user)', () => {
    expect(
      convert({ input: 'hi', dimensions: 64, encoding_format: 'base64', user: 'u-1' })
    ).toEqual({ model: 'vectors', inputs: ['hi'], dimensions: 64 })
  })

  it('refuses shapes OpenAI refuses, naming the field', () => {
    for (const input of [[], [[]], ['a', 1], [1.5], null, 3])
      expect(refusal({ input })).toMatchObject({ status: 400, param: 'input' })
    const many = refusal({ input: Array.from({ length: maxEmbeddingInputs + 1 }, () => 'a') })
    expect(many.message).toBe('`input` holds 2049 inputs; at most 2048 are allowed in one request.')
    expect(refusal({ input: 'hi', dimensions: 0 })).toMatchObject({ param: 'dimensions' })
  })
})
