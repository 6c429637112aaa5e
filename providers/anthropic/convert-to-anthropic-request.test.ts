import { describe, expect, it } from 'vitest'
import type { ChatRequest } from '../spec/chat-types.ts'
import { ProviderError } from '../spec/provider-error.ts'
import {
  convertToAnthropicPrompt,
  convertToAnthropicRequest,
} from './convert-to-anthropic-request.ts'

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'claude-sonnet-4-5',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  maxTokens: 1000,
  stream: false,
  ...overrides,
})

const unsupported = (run: () => unknown): ProviderError => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ kind: 'unsupported', status: 400, retryable: false })
    return error as ProviderError
  }
  throw new Error('expected an unsupported ProviderError')
}

describe('convertToAnthropicRequest', () => {
  it('lifts system messages to the top-level system, one as a string and several as text blocks', () => {
    const one = convertToAnthropicRequest(
      request({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        ],
      })
    )
    expect(one.system).toBe('Be brief.')
    const several = convertToAnthropicRequest(
      request({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'system', content: 'Answer in French.' },
        ],
      })
    )
    expect(several.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Answer in French.' },
    ])
    expect(several.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }])
  })

  it('merges consecutive same-role messages into alternating turns', () => {
    const body = convertToAnthropicRequest(
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'One' }] },
          { role: 'user', content: [{ type: 'text', text: 'Two' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Three' }] },
        ],
      })
    )
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'One' },
          { type: 'text', text: 'Two' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Three' }] },
    ])
  })

  it('groups tool results into one user message, placed first, with tool_use inputs parsed', () => {
    const body = convertToAnthropicRequest(
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
          {
            role: 'assistant',
            content: [
              {
                type: 'tool-call',
                id: 'call_1',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
              { type: 'tool-call', id: 'call_2', name: 'get_time', arguments: '' },
            ],
          },
          { role: 'tool', toolCallId: 'call_1', content: [{ type: 'text', text: '21°C' }] },
          {
            role: 'tool',
            toolCallId: 'call_2',
            content: [{ type: 'text', text: 'boom' }],
            isError: true,
          },
          { role: 'user', content: [{ type: 'text', text: 'And tomorrow?' }] },
        ],
      })
    )
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '21°C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: 'boom', is_error: true },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
    ])
  })

  it('rejects tool arguments that are not a JSON object', () => {
    const withArguments = (text: string) =>
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          {
            role: 'assistant',
            content: [{ type: 'tool-call', id: 'call_9', name: 'f', arguments: text }],
          },
        ],
      })
    expect(unsupported(() => convertToAnthropicRequest(withArguments('{"a":'))).message).toContain(
      'call_9'
    )
    unsupported(() => convertToAnthropicRequest(withArguments('[1]')))
  })

  it('converts images and rejects media types Anthropic does not take', () => {
    const body = convertToAnthropicRequest(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
              {
                type: 'image',
                source: { type: 'base64', mediaType: 'image/webp', data: 'UklGRg==' },
              },
            ],
          },
        ],
      })
    )
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          { type: 'image', source: { type: 'base64', media_type: 'image/webp', data: 'UklGRg==' } },
        ],
      },
    ])
    const tiff = request({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', mediaType: 'image/tiff', data: 'SUkq' } },
          ],
        },
      ],
    })
    expect(unsupported(() => convertToAnthropicRequest(tiff)).message).toContain('image/tiff')
  })

  it('maps tools to input_schema and every tool_choice, with disable_parallel_tool_use', () => {
    const tools = [
      {
        name: 'get_weather',
        description: 'Weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
      },
      { name: 'no_args', parameters: {} },
    ]
    const body = convertToAnthropicRequest(
      request({ tools, toolChoice: { type: 'required' }, parallelToolCalls: false })
    )
    expect(body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
      },
      { name: 'no_args', input_schema: { type: 'object' } },
    ])
    expect(body.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true })
    expect(
      convertToAnthropicRequest(request({ tools, parallelToolCalls: false })).tool_choice
    ).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    })
    expect(
      convertToAnthropicRequest(
        request({ tools, toolChoice: { type: 'none' }, parallelToolCalls: false })
      ).tool_choice
    ).toEqual({
      type: 'none',
    })
    expect(
      convertToAnthropicRequest(request({ tools, toolChoice: { type: 'tool', name: 'no_args' } }))
        .tool_choice
    ).toEqual({
      type: 'tool',
      name: 'no_args',
    })
    expect(convertToAnthropicRequest(request({ tools }))).not.toHaveProperty('tool_choice')
  })

  it('maps sampling, stop and user, and never clamps temperature', () => {
    const body = convertToAnthropicRequest(
      request({ temperature: 1, topP: 0.5, stop: ['END', 'STOP'], user: 'user-7', stream: true })
    )
    expect(body).toMatchObject({
      max_tokens: 1000,
      temperature: 1,
      top_p: 0.5,
      stop_sequences: ['END', 'STOP'],
      metadata: { user_id: 'user-7' },
      stream: true,
    })
    expect(unsupported(() => convertToAnthropicRequest(request({ temperature: 1.2 }))).param).toBe(
      'temperature'
    )
  })

  it('requires max_tokens rather than guessing one', () => {
    expect(
      unsupported(() => convertToAnthropicRequest(request({ maxTokens: undefined }))).param
    ).toBe('max_tokens')
  })

  it('uses output_config.format for json_schema and rejects json_object', () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' } },
      additionalProperties: false,
    }
    const body = convertToAnthropicRequest(
      request({ responseFormat: { type: 'json_schema', name: 'answer', schema } })
    )
    expect(body.output_config).toEqual({ format: { type: 'json_schema', schema } })
    expect(
      unsupported(() =>
        convertToAnthropicRequest(request({ responseFormat: { type: 'json_object' } }))
      ).param
    ).toBe('response_format')
  })

  it('replays signed reasoning as thinking blocks and drops unsigned reasoning', () => {
    const body = convertToAnthropicRequest(
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          {
            role: 'assistant',
            content: [
              { type: 'reasoning', text: 'Signed thought', signature: 'sig' },
              { type: 'reasoning', text: '', redactedData: 'EmwK' },
              { type: 'reasoning', text: 'Unsigned thought' },
              { type: 'text', text: 'Hello' },
            ],
          },
        ],
      })
    )
    expect((body.messages as { content: unknown }[])[1].content).toEqual([
      { type: 'thinking', thinking: 'Signed thought', signature: 'sig' },
      { type: 'redacted_thinking', data: 'EmwK' },
      { type: 'text', text: 'Hello' },
    ])
  })
})

describe('convertToAnthropicPrompt', () => {
  it('leaves out generation settings that count_tokens rejects', () => {
    const body = convertToAnthropicPrompt(
      request({ temperature: 0.5, stop: ['x'], user: 'u', stream: true })
    )
    expect(Object.keys(body).sort()).toEqual(['messages', 'model'])
  })

  it("sends reasoning by the model's control, merging the effort with an output format", () => {
    const format = {
      type: 'json_schema' as const,
      name: 'answer',
      schema: { type: 'object', properties: {} },
    }
    const effortBody = convertToAnthropicRequest(
      request({ reasoning: { effort: 'medium' }, responseFormat: format }),
      'effort'
    )
    expect(effortBody.thinking).toEqual({ type: 'adaptive' })
    expect(effortBody.output_config).toEqual({
      format: { type: 'json_schema', schema: format.schema },
      effort: 'medium',
    })
    const budgetBody = convertToAnthropicRequest(
      request({ reasoning: { effort: 'high' }, maxTokens: 64000 }),
      'budget'
    )
    expect(budgetBody.thinking).toEqual({ type: 'enabled', budget_tokens: 16384 })
    expect(budgetBody.output_config).toBeUndefined()
    const none = convertToAnthropicRequest(request({ reasoning: { effort: 'high' } }), 'none')
    expect(none.thinking).toBeUndefined()
    expect(none.output_config).toBeUndefined()
  })

  it('refuses a request that has no message left once empty text is skipped, naming `messages`', () => {
    const error = unsupported(() =>
      convertToAnthropicRequest(
        request({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] })
      )
    )
    expect(error.param).toBe('messages')
  })

  it('refuses a JSON-object response format without naming the client field in its message', () => {
    const error = unsupported(() =>
      convertToAnthropicRequest(request({ responseFormat: { type: 'json_object' } }))
    )
    expect(error.param).toBe('response_format')
    expect(error.message).not.toContain('response_format')
  })
})
