import { readFileSync } from 'node:fs'
import { describe, it, expect } from 'vitest'
import { SseParser } from '../../providers/shared/parse-sse.ts'
import { expectValidOpenAI, validateOpenAI } from './openapi-validator.ts'

type Json = Record<string, unknown>
type Container = Record<string | number, unknown>

const fixture = (name: string): string =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8')
const json = (name: string): Json => JSON.parse(fixture(name))

/** A copy of `value` with the property at `path` removed, or replaced when `replacement` is given. */
const edited = (value: Json, path: (string | number)[], ...replacement: [unknown?]): Json => {
  const copy = structuredClone(value)
  let parent = copy as Container
  for (const key of path.slice(0, -1)) parent = parent[key] as Container
  const last = path[path.length - 1]
  if (replacement.length === 0) delete parent[last]
  else parent[last] = replacement[0]
  return copy
}

const recordedStreamChunks = (): Json[] => {
  const parser = new SseParser()
  const events = [...parser.push(fixture('openai-parallel-tools.sse.txt')), ...parser.end()]
  return events.filter((event) => event.data !== '[DONE]').map((event) => JSON.parse(event.data))
}

describe('validateOpenAI accepts recorded real OpenAI responses', () => {
  it('accepts a recorded text chat completion', () => {
    expect(validateOpenAI('CreateChatCompletionResponse', json('openai-text.json'))).toEqual({
      valid: true,
      errors: [],
    })
  })

  it('accepts a recorded chat completion with two tool calls', () => {
    expectValidOpenAI('CreateChatCompletionResponse', json('openai-multiple-tools.json'))
  })

  it('accepts every chunk of a recorded text stream, including the choices:[] usage chunk', () => {
    const chunks = fixture('openai-text.excerpt.chunks.txt')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(chunks.at(-1)?.choices).toEqual([])
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
  })

  it('accepts every chunk of a recorded stream with parallel tool-call fragments', () => {
    const chunks = recordedStreamChunks()
    expect(chunks).toHaveLength(25)
    for (const chunk of chunks) expectValidOpenAI('CreateChatCompletionStreamResponse', chunk)
  })

  it('accepts a recorded embeddings response and a recorded error body', () => {
    expectValidOpenAI('CreateEmbeddingResponse', json('openai-embedding.json'))
    expectValidOpenAI('ErrorResponse', json('openai-error-unsupported-parameter.json'))
  })

  it("accepts OpenAI's documented model object, alone and in a list", () => {
    // The example of the Model schema in the OpenAPI document (x-oaiMeta), the only official sample at hand.
    const model = {
      id: 'VAR_chat_model_id',
      object: 'model',
      created: 1686935002,
      owned_by: 'openai',
      shutdown_date: '2026-10-23',
    }
    expectValidOpenAI('Model', model)
    expectValidOpenAI('ListModelsResponse', { object: 'list', data: [model] })
  })
})

describe('validateOpenAI rejects broken responses', () => {
  const completion = () => json('openai-text.json')

  it('rejects a completion without choices', () => {
    const broken = edited(completion(), ['choices'])
    const result = validateOpenAI('CreateChatCompletionResponse', broken)
    expect(result.valid).toBe(false)
    expect(result.errors.join('\n')).toContain("required property 'choices'")
  })

  it('rejects a choice whose finish_reason is absent, or not one of the documented values', () => {
    const absent = edited(completion(), ['choices', 0, 'finish_reason'])
    expect(validateOpenAI('CreateChatCompletionResponse', absent).errors.join('\n')).toContain(
      "/choices/0 must have required property 'finish_reason'"
    )
    const unknown = edited(completion(), ['choices', 0, 'finish_reason'], 'end_turn')
    expect(validateOpenAI('CreateChatCompletionResponse', unknown).valid).toBe(false)
  })

  it('rejects a message without refusal (a required key, null when there is none)', () => {
    const broken = edited(completion(), ['choices', 0, 'message', 'refusal'])
    expect(validateOpenAI('CreateChatCompletionResponse', broken).errors.join('\n')).toContain(
      "/choices/0/message must have required property 'refusal'"
    )
  })

  it('rejects the wrong object type', () => {
    const broken = { ...completion(), object: 'chat.completion.chunk' }
    expect(validateOpenAI('CreateChatCompletionResponse', broken).errors.join('\n')).toContain(
      '/object must be equal to one of the allowed values'
    )
  })

  it('keeps nullable fields strict: finish_reason null passes in a chunk, a missing one or a wrong value does not', () => {
    const [first] = recordedStreamChunks()
    expect((first.choices as Json[])[0].finish_reason).toBeNull()
    expect(validateOpenAI('CreateChatCompletionStreamResponse', first).valid).toBe(true)
    const missing = edited(first, ['choices', 0, 'finish_reason'])
    expect(validateOpenAI('CreateChatCompletionStreamResponse', missing).valid).toBe(false)
    const wrong = edited(first, ['choices', 0, 'finish_reason'], 'done')
    expect(validateOpenAI('CreateChatCompletionStreamResponse', wrong).valid).toBe(false)
  })

  it('follows a $ref next to nullable: chunk usage may be null but not a malformed usage object', () => {
    const chunk = recordedStreamChunks().at(-1) as Json
    expectValidOpenAI('CreateChatCompletionStreamResponse', { ...chunk, usage: null })
    const broken = { ...chunk, usage: { prompt_tokens: '149', completion_tokens: 60 } }
    const { errors } = validateOpenAI('CreateChatCompletionStreamResponse', broken)
    expect(errors.join('\n')).toContain('/usage/prompt_tokens must be integer')
    expect(errors.join('\n')).toContain("/usage must have required property 'total_tokens'")
  })

  it('rejects a usage chunk whose choices is null instead of []', () => {
    const chunk = recordedStreamChunks().at(-1) as Json
    expect(
      validateOpenAI('CreateChatCompletionStreamResponse', { ...chunk, choices: null }).valid
    ).toBe(false)
  })

  it('rejects an error body that omits the nullable but required param and code keys', () => {
    const body = { error: { message: 'Rate limit reached', type: 'requests' } }
    const { errors } = validateOpenAI('ErrorResponse', body)
    expect(errors).toEqual([
      "/error must have required property 'param'",
      "/error must have required property 'code'",
    ])
  })

  it('expectValidOpenAI throws an error that names the schema and each violation', () => {
    expect(() =>
      expectValidOpenAI('Model', { id: 'gpt-4o', object: 'model', owned_by: 'system' })
    ).toThrow(/Not a valid OpenAI Model:\n {2}\(root\) must have required property 'created'/)
  })

  it('refuses a schema name the spec does not define', () => {
    expect(() => validateOpenAI('ChatCompletionResponse', {})).toThrow(
      'No schema named ChatCompletionResponse'
    )
  })
})
