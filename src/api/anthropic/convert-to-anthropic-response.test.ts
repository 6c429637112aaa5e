import { describe, expect, it } from 'vitest'
import type { ChatResult } from '../../../providers/spec/chat-types.ts'
import { convertToAnthropicResponse, toolInputOf } from './convert-to-anthropic-response.ts'

const result = (overrides: Partial<ChatResult> = {}): ChatResult => ({
  id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
  model: 'gpt-4o-mini-2024-07-18',
  created: 1_741_570_283,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'Hello!' }],
      finishReason: { unified: 'stop', raw: 'stop' },
    },
  ],
  usage: {
    inputTokens: 19,
    outputTokens: 10,
    cachedInputTokens: 0,
    cacheWriteInputTokens: null,
    reasoningTokens: 0,
  },
  ...overrides,
})

describe('convertToAnthropicResponse', () => {
  it('writes a message with exactly the real API keys, and no citations or error keys', () => {
    const message = convertToAnthropicResponse(result())
    expect(Object.keys(message)).toEqual([
      'id',
      'type',
      'role',
      'model',
      'content',
      'stop_reason',
      'stop_sequence',
      'stop_details',
      'usage',
    ])
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini-2024-07-18',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      stop_details: null,
      usage: {
        input_tokens: 19,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 10,
        output_tokens_details: { thinking_tokens: 0 },
      },
    })
    expect(message.content[0]).not.toHaveProperty('citations')
    expect(message).not.toHaveProperty('error')
    expect(message.id).toMatch(/^msg_[A-Za-z0-9]{24}$/)
  })

  it('keeps an upstream msg_ id and lets the caller name the model', () => {
    const message = convertToAnthropicResponse(result({ id: 'msg_01ABC' }), {
      model: 'claude-sonnet-4-5',
    })
    expect(message.id).toBe('msg_01ABC')
    expect(message.model).toBe('claude-sonnet-4-5')
  })

  it('subtracts cached tokens from input_tokens, as Anthropic counts them apart', () => {
    const usage = {
      inputTokens: 2000,
      outputTokens: 5,
      cachedInputTokens: 1500,
      cacheWriteInputTokens: 100,
      reasoningTokens: null,
    }
    expect(convertToAnthropicResponse(result({ usage })).usage).toEqual({
      input_tokens: 400,
      cache_creation_input_tokens: 100,
      cache_read_input_tokens: 1500,
      output_tokens: 5,
    })
  })

  it('splits the cache writes by lifetime in cache_creation when the upstream did, and only then', () => {
    const usage = {
      inputTokens: 2000,
      outputTokens: 5,
      cachedInputTokens: 1500,
      cacheWriteInputTokens: 300,
      cacheWrite1hInputTokens: 200,
      reasoningTokens: null,
    }
    expect(convertToAnthropicResponse(result({ usage })).usage).toEqual({
      input_tokens: 200,
      cache_creation_input_tokens: 300,
      cache_read_input_tokens: 1500,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
      output_tokens: 5,
    })
    // An OpenAI-compatible upstream reports writes without a lifetime: no split is made up.
    for (const unsplit of [{ cacheWrite1hInputTokens: null }, { cacheWriteInputTokens: null }])
      expect(
        convertToAnthropicResponse(result({ usage: { ...usage, ...unsplit } })).usage
      ).not.toHaveProperty('cache_creation')
  })

  it('sends 0 where a count is unknown, because the wire requires a number', () => {
    const usage = {
      inputTokens: null,
      outputTokens: null,
      cachedInputTokens: null,
      cacheWriteInputTokens: null,
      reasoningTokens: null,
    }
    expect(convertToAnthropicResponse(result({ usage })).usage).toEqual({
      input_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 0,
    })
  })

  it('maps tool calls to tool_use with parsed input and stop_reason tool_use', () => {
    const message = convertToAnthropicResponse(
      result({
        choices: [
          {
            index: 0,
            content: [
              { type: 'reasoning', text: 'Need the weather.' },
              { type: 'text', text: '' },
              {
                type: 'tool-call',
                id: 'call_abc',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
              { type: 'tool-call', id: 'call_def', name: 'get_time', arguments: '' },
            ],
            finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          },
        ],
      })
    )
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Need the weather.', signature: '' },
      { type: 'tool_use', id: 'call_abc', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_def', name: 'get_time', input: {} },
    ])
    expect(message.stop_reason).toBe('tool_use')
  })

  it("stops for the tools when a lenient server ended a turn of tool calls with 'stop'", () => {
    const choices = [
      {
        index: 0,
        content: [{ type: 'tool-call' as const, id: 'c', name: 'ls', arguments: '{}' }],
        finishReason: { unified: 'stop' as const, raw: 'stop' },
      },
    ]
    expect(convertToAnthropicResponse(result({ choices })).stop_reason).toBe('tool_use')
  })

  it.each([
    ['length', 'max_tokens'],
    ['content-filter', 'refusal'],
    ['other', 'end_turn'],
    ['error', 'end_turn'],
  ] as const)('maps finish %s to stop_reason %s', (unified, expected) => {
    const choices = [{ index: 0, content: [], finishReason: { unified, raw: null } }]
    expect(convertToAnthropicResponse(result({ choices })).stop_reason).toBe(expected)
  })

  it('says which stop sequence ended the answer, when the provider said', () => {
    const finishReason = { unified: 'stop' as const, raw: 'stop_sequence', stopSequence: '\n\n' }
    const message = convertToAnthropicResponse(
      result({ choices: [{ index: 0, content: [], finishReason }] })
    )
    expect(message).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: '\n\n' })
  })
})

describe('toolInputOf', () => {
  it('wraps arguments that are not a JSON object instead of failing or inventing {}', () => {
    expect(toolInputOf('{"a":1}')).toEqual({ a: 1 })
    expect(toolInputOf('  ')).toEqual({})
    expect(toolInputOf('{"a":')).toEqual({ _raw_arguments: '{"a":' })
    expect(toolInputOf('[1,2]')).toEqual({ _raw_arguments: '[1,2]' })
  })
})

describe('convertToAnthropicResponse: a refusal', () => {
  it('writes the refusal as a text block and stops for refusal, with its stop_details', () => {
    const message = convertToAnthropicResponse(
      result({
        choices: [
          {
            index: 0,
            content: [
              { type: 'text', text: 'Well,' },
              { type: 'refusal', text: "I can't help with that." },
            ],
            finishReason: { unified: 'stop', raw: 'stop' },
          },
        ],
      })
    )
    expect(message.content).toEqual([
      { type: 'text', text: 'Well,' },
      { type: 'text', text: "I can't help with that." },
    ])
    expect(message.stop_reason).toBe('refusal')
    expect(message.stop_details).toEqual({
      type: 'refusal',
      category: null,
      explanation: "I can't help with that.",
    })
    expect(Object.keys(message).slice(-4)).toEqual([
      'stop_reason',
      'stop_sequence',
      'stop_details',
      'usage',
    ])
  })

  it('gives a content filter its refusal stop_details too, without an explanation', () => {
    const message = convertToAnthropicResponse(
      result({
        choices: [
          {
            index: 0,
            content: [{ type: 'text', text: 'Partial' }],
            finishReason: { unified: 'content-filter', raw: 'content_filter' },
          },
        ],
      })
    )
    expect(message.stop_reason).toBe('refusal')
    expect(message.stop_details).toEqual({ type: 'refusal', category: null, explanation: null })
  })
})
