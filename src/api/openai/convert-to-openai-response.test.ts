import { describe, expect, it } from 'vitest'
import type { ChatResult } from '../../../providers/spec/chat-types.ts'
import { expectValidOpenAI } from '../../../test/helpers/openapi-validator.ts'
import { convertToOpenAIResponse, toOpenAIFinishReason } from './convert-to-openai-response.ts'

const result: ChatResult = {
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  model: 'claude-sonnet-4-5-20250929',
  created: 1754651500,
  choices: [
    {
      index: 0,
      content: [
        { type: 'reasoning', text: 'The user wants a greeting.', signature: 'EqQBCg' },
        { type: 'text', text: 'Hello' },
        { type: 'text', text: ', world.' },
      ],
      finishReason: { unified: 'stop', raw: 'end_turn' },
    },
  ],
  usage: {
    inputTokens: 2095,
    outputTokens: 503,
    cachedInputTokens: 2048,
    cacheWriteInputTokens: 0,
    reasoningTokens: null,
  },
}

describe('convertToOpenAIResponse', () => {
  it('writes a text answer exactly as the OpenAI API does', () => {
    const body = convertToOpenAIResponse(result)
    expect(body).toEqual({
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: 1754651500,
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello, world.', refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 2095,
        completion_tokens: 503,
        total_tokens: 2598,
        prompt_tokens_details: { cached_tokens: 2048, audio_tokens: 0, cache_write_tokens: 0 },
      },
    })
    expect(body.choices[0].message).not.toHaveProperty('tool_calls')
    expectValidOpenAI('CreateChatCompletionResponse', body)
  })

  it('writes tool calls with a null content and the tool_calls finish reason', () => {
    const body = convertToOpenAIResponse(
      {
        ...result,
        id: 'chatcmpl-abc',
        choices: [
          {
            index: 0,
            content: [
              {
                type: 'tool-call',
                id: 'toolu_01',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
              { type: 'tool-call', id: 'toolu_02', name: 'get_time', arguments: '{}' },
            ],
            finishReason: { unified: 'tool-calls', raw: 'tool_use' },
          },
        ],
        usage: {
          inputTokens: 10,
          outputTokens: 5,
          cachedInputTokens: null,
          cacheWriteInputTokens: null,
          reasoningTokens: 3,
        },
      },
      { model: 'smart' }
    )
    expect(body.id).toBe('chatcmpl-abc')
    expect(body.model).toBe('smart')
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        annotations: [],
        tool_calls: [
          {
            id: 'toolu_01',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'toolu_02', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    })
    expect(body.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      completion_tokens_details: {
        reasoning_tokens: 3,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    })
    expectValidOpenAI('CreateChatCompletionResponse', body)
  })

  it('writes 0 only in the required usage fields when the upstream reported nothing', () => {
    const body = convertToOpenAIResponse({
      ...result,
      usage: {
        inputTokens: null,
        outputTokens: null,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
    expect(body.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 })
  })

  it('maps finish reasons back to the ones OpenAI clients know', () => {
    expect(toOpenAIFinishReason({ unified: 'length', raw: 'max_tokens' })).toBe('length')
    expect(toOpenAIFinishReason({ unified: 'content-filter', raw: 'refusal' })).toBe(
      'content_filter'
    )
    expect(toOpenAIFinishReason({ unified: 'tool-calls', raw: 'tool_use' })).toBe('tool_calls')
    expect(toOpenAIFinishReason({ unified: 'other', raw: 'pause_turn' })).toBe('stop')
    expect(toOpenAIFinishReason({ unified: 'error', raw: null })).toBe('stop')
  })
})

describe('convertToOpenAIResponse: a refusal', () => {
  const refused = (content: ChatResult['choices'][number]['content']): ChatResult => ({
    ...result,
    choices: [{ index: 0, content, finishReason: { unified: 'stop', raw: 'completed' } }],
  })

  it('writes message.refusal with content null, as the API does, never the refusal as content', () => {
    const body = convertToOpenAIResponse(
      refused([
        { type: 'refusal', text: "I'm sorry, " },
        { type: 'refusal', text: "I can't help with that." },
      ])
    )
    expectValidOpenAI('CreateChatCompletionResponse', body)
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: "I'm sorry, I can't help with that.",
        annotations: [],
      },
      logprobs: null,
      finish_reason: 'stop',
    })
  })

  it('keeps text before a refusal as content, the refusal apart', () => {
    const body = convertToOpenAIResponse(
      refused([
        { type: 'text', text: 'Well,' },
        { type: 'refusal', text: 'no.' },
      ])
    )
    expectValidOpenAI('CreateChatCompletionResponse', body)
    expect(body.choices[0].message).toMatchObject({ content: 'Well,', refusal: 'no.' })
  })
})
