import { describe, expect, it } from 'vitest'
import responsesIncompleteJson from './__fixtures__/responses-incomplete.json?raw'
import responsesTextJson from './__fixtures__/responses-text.json?raw'
import responsesToolCallsJson from './__fixtures__/responses-tool-calls.json?raw'
import { isProviderError } from '../spec/provider-error.ts'
import { convertOpenAIResponsesResult } from './convert-openai-responses-result.ts'

const fixtures: Record<string, string> = {
  'responses-incomplete.json': responsesIncompleteJson,
  'responses-text.json': responsesTextJson,
  'responses-tool-calls.json': responsesToolCallsJson,
}

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(fixtures[name]) as Record<string, unknown>

const convert = (response: Record<string, unknown>) =>
  convertOpenAIResponsesResult({ response, model: 'asked', now: 1, providerId: 'openai' })

describe('convertOpenAIResponsesResult', () => {
  it('reads text, the reasoning summary and the Responses usage', () => {
    const response = fixture('responses-text.json')
    expect(convert(response)).toEqual({
      id: response.id,
      model: 'o3-pro',
      created: response.created_at,
      choices: [
        {
          index: 0,
          content: [
            { type: 'reasoning', text: "**Planning the answer**\n\nI'll answer the last message." },
            { type: 'text', text: 'echo: hello there' },
          ],
          finishReason: { unified: 'stop', raw: 'completed' },
        },
      ],
      usage: {
        inputTokens: 44,
        outputTokens: 13,
        cachedInputTokens: 0,
        cacheWriteInputTokens: 0, // the fixture's `cache_write_tokens: 0`, as OpenAI sends it
        reasoningTokens: 8,
      },
    })
  })

  it('reads function calls with their call_id as the id, and finishes with tool-calls', () => {
    const result = convert(fixture('responses-tool-calls.json'))
    const [choice] = result.choices
    expect(choice.content).toEqual([
      {
        type: 'tool-call',
        id: 'call_9iZU1PxSC1sfRBZrK3zGzCds',
        name: 'get_weather',
        arguments: '{"city":"sample city"}',
      },
      {
        type: 'tool-call',
        id: 'call_CLj5EONv0yXjfbjwl0TgAR4w',
        name: 'get_time',
        arguments: '{"zone":"sample zone"}',
      },
    ])
    expect(choice.finishReason).toEqual({ unified: 'tool-calls', raw: 'completed' })
    expect(result.usage).toMatchObject({ inputTokens: 120, outputTokens: 24, reasoningTokens: 8 })
  })

  it('maps an answer cut short by max_output_tokens to length', () => {
    const [choice] = convert(fixture('responses-incomplete.json')).choices
    expect(choice.content).toEqual([{ type: 'text', text: 'echo: a fairly long sentence tha' }])
    expect(choice.finishReason).toEqual({ unified: 'length', raw: 'max_output_tokens' })
  })

  it('maps a content filter to content-filter and a refusal to a refusal part, apart from text', () => {
    const [choice] = convert({
      id: 'resp_1',
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
      output: [
        {
          type: 'message',
          role: 'assistant',
          content: [{ type: 'refusal', refusal: 'I cannot help with that.' }],
        },
      ],
    }).choices
    expect(choice.content).toEqual([{ type: 'refusal', text: 'I cannot help with that.' }])
    expect(choice.finishReason).toEqual({ unified: 'content-filter', raw: 'content_filter' })
  })

  it('fills what the response leaves out and knows usage is unknown without one', () => {
    const result = convert({ output: [] })
    expect(result).toMatchObject({ id: '', model: 'asked', created: 1 })
    expect(result.usage.inputTokens).toBeNull()
  })

  it('throws a failed response as the upstream error it carries', () => {
    let caught: unknown
    try {
      convert({
        id: 'resp_2',
        status: 'failed',
        error: { code: 'server_error', message: 'Something broke.' },
        output: [],
      })
    } catch (error) {
      caught = error
    }
    expect(isProviderError(caught)).toBe(true)
    expect(caught).toMatchObject({
      kind: 'http',
      status: 502,
      code: 'server_error',
      message: 'Something broke.',
      providerId: 'openai',
    })
  })
})
