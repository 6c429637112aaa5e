import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import { convertOpenAIRequest } from './convert-openai-request.ts'

const user = { role: 'user', content: 'Hi' }

const rejectionOf = (body: Record<string, unknown>): GatewayError => {
  try {
    convertOpenAIRequest(body, 'claude-sonnet-4-5')
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError)
    return error as GatewayError
  }
  throw new Error('expected a 400')
}

describe('convertOpenAIRequest', () => {
  it('converts a string content as it converts the same text as one text part, for every role', () => {
    for (const message of [
      { role: 'user' },
      { role: 'system' },
      { role: 'developer' },
      { role: 'tool', tool_call_id: 'call_1' },
      { role: 'assistant' },
    ]) {
      const asString = convertOpenAIRequest(
        { messages: [{ ...message, content: 'Weather here?' }] },
        'm'
      )
      const asPart = convertOpenAIRequest(
        { messages: [{ ...message, content: [{ type: 'text', text: 'Weather here?' }] }] },
        'm'
      )
      expect(asString).toEqual(asPart)
    }
    // A tool message without its call's id is refused whichever way its content is given.
    expect(rejectionOf({ messages: [{ role: 'tool', content: 'x' }] }).param).toBe(
      'messages.0.tool_call_id'
    )
  })

  it('converts a full tool-using conversation', () => {
    const request = convertOpenAIRequest(
      {
        model: 'smart',
        messages: [
          { role: 'developer', content: 'Be terse.' },
          {
            role: 'system',
            content: [
              { type: 'text', text: 'Use metric.' },
              { type: 'text', text: 'No emoji.' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Weather here?' },
              {
                type: 'image_url',
                image_url: { url: 'data:image/PNG;base64,iVBORw0KGgo=', detail: 'low' },
              },
              { type: 'image_url', image_url: { url: 'https://example.com/street.jpg' } },
            ],
          },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18°C, sunny' },
          { role: 'assistant', content: [{ type: 'text', text: 'It is 18°C.' }], name: 'bot' },
        ],
      },
      'claude-sonnet-4-5'
    )
    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      stream: false,
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'system', content: 'Use metric.\nNo emoji.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here?' },
            {
              type: 'image',
              source: { type: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' },
            },
            { type: 'image', source: { type: 'url', url: 'https://example.com/street.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool-call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          ],
        },
        { role: 'tool', toolCallId: 'call_1', content: [{ type: 'text', text: '18°C, sunny' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'It is 18°C.' }] },
      ],
    })
  })

  it('maps every convertible parameter, preferring max_completion_tokens', () => {
    const request = convertOpenAIRequest(
      {
        model: 'smart',
        messages: [user],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 50,
        max_completion_tokens: 200,
        temperature: 1.5,
        top_p: 0.8,
        top_k: 40,
        stop: 'END',
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Weather',
              parameters: { type: 'object', properties: { city: { type: 'string' } } },
              strict: true,
            },
          },
          { type: 'function', function: { name: 'ping' } },
        ],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'out', schema: { type: 'object' }, strict: true },
        },
        user: 'legacy-user',
        safety_identifier: 'user-hash-1',
        prompt_cache_key: 'session-1',
        service_tier: 'flex',
        verbosity: 'low',
        seed: 7,
        frequency_penalty: 0.5,
      },
      'claude-sonnet-4-5'
    )
    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: true,
      includeUsage: true,
      maxTokens: 200,
      temperature: 1.5,
      topP: 0.8,
      topK: 40,
      seed: 7,
      stop: ['END'],
      tools: [
        {
          name: 'get_weather',
          description: 'Weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          strict: true,
        },
        { name: 'ping', parameters: { type: 'object', properties: {} } },
      ],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      responseFormat: {
        type: 'json_schema',
        name: 'out',
        schema: { type: 'object' },
        strict: true,
      },
      user: 'legacy-user',
      safetyIdentifier: 'user-hash-1',
      promptCacheKey: 'session-1',
      serviceTier: 'flex',
      verbosity: 'low',
    })
  })

  it('leaves absent what the client did not send (no max tokens, no sampling defaults)', () => {
    expect(
      convertOpenAIRequest({ model: 'm', messages: [user], max_tokens: null, stop: null }, 'x')
    ).toEqual({
      model: 'x',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: false,
    })
    expect(
      convertOpenAIRequest({ model: 'm', messages: [user], max_tokens: 99 }, 'x').maxTokens
    ).toBe(99)
  })

  it('maps the string tool choices and simple response formats', () => {
    for (const choice of ['auto', 'none', 'required']) {
      expect(
        convertOpenAIRequest({ messages: [user], tool_choice: choice }, 'x').toolChoice
      ).toEqual({ type: choice })
    }
    expect(
      convertOpenAIRequest({ messages: [user], response_format: { type: 'json_object' } }, 'x')
        .responseFormat
    ).toEqual({ type: 'json_object' })
    expect(convertOpenAIRequest({ messages: [user], stop: ['a', 'b'] }, 'x').stop).toEqual([
      'a',
      'b',
    ])
  })

  it.each([
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ audio: { voice: 'alloy', format: 'wav' } }, 'audio'],
    [{ modalities: ['text', 'audio'] }, 'modalities'],
    [{ functions: [{ name: 'f' }] }, 'functions'],
    [
      { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } },
      'tool_choice',
    ],
    [
      {
        tools: [
          { type: 'function', function: { name: 'ok' } },
          { type: 'custom', custom: { name: 'grammar' } },
        ],
      },
      'tools.1.type',
    ],
    [
      { response_format: { type: 'json_schema', json_schema: { name: 'x' } } },
      'response_format.json_schema.schema',
    ],
  ])('refuses %j with a 400 naming %s', (extra, param) => {
    const error = rejectionOf({ model: 'm', messages: [user], ...extra })
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', param })
  })

  it('names the exact tool call whose arguments are not JSON', () => {
    const error = rejectionOf({
      messages: [
        user,
        { role: 'assistant', content: 'ok' },
        user,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":' } },
          ],
        },
      ],
    })
    expect(error.param).toBe('messages.3.tool_calls.0.function.arguments')
    expect(error.message).toMatch(/not valid JSON/)
  })

  it('refuses image types the provider cannot read, and audio input, naming the part', () => {
    const image = rejectionOf({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'x' },
            { type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } },
          ],
        },
      ],
    })
    expect(image).toMatchObject({ param: 'messages.0.content.1.image_url.url' })
    expect(image.message).toMatch(/image\/bmp/)
    const audio = rejectionOf({
      messages: [
        {
          role: 'user',
          content: [{ type: 'input_audio', input_audio: { data: 'AAA=', format: 'wav' } }],
        },
      ],
    })
    expect(audio).toMatchObject({ param: 'messages.0.content.0.type' })
  })

  it('refuses non-function tool calls in history and the deprecated function role', () => {
    expect(
      rejectionOf({
        messages: [
          user,
          {
            role: 'assistant',
            tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'g', input: 'x' } }],
          },
        ],
      }).param
    ).toBe('messages.1.tool_calls.0.type')
    expect(
      rejectionOf({ messages: [user, { role: 'function', name: 'f', content: '1' }] }).param
    ).toBe('messages.1.role')
  })

  it('reads `reasoning_effort` as the canonical effort, and refuses a value OpenAI does not have', () => {
    expect(
      convertOpenAIRequest({ messages: [user], reasoning_effort: 'high' }, 'm').reasoning
    ).toEqual({ effort: 'high' })
    expect(convertOpenAIRequest({ messages: [user] }, 'm').reasoning).toBeUndefined()
    expect(rejectionOf({ messages: [user], reasoning_effort: 'huge' }).param).toBe(
      'reasoning_effort'
    )
  })

  it('takes a tool call with empty `arguments` as one without arguments', () => {
    const request = convertOpenAIRequest(
      {
        messages: [
          user,
          {
            role: 'assistant',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'now', arguments: '' } },
            ],
          },
        ],
      },
      'm'
    )
    expect(request.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool-call', id: 'call_1', name: 'now', arguments: '{}' }],
    })
  })

  it('refuses a maximum output or stop sequences of the wrong type, naming the field', () => {
    expect(rejectionOf({ messages: [user], max_tokens: 'ten' }).param).toBe('max_tokens')
    expect(rejectionOf({ messages: [user], max_completion_tokens: 'ten' }).param).toBe(
      'max_completion_tokens'
    )
    expect(rejectionOf({ messages: [user], stop: [1, 2] }).param).toBe('stop')
    expect(rejectionOf({ messages: [user], stop: 7 }).param).toBe('stop')
    expect(convertOpenAIRequest({ messages: [user], stop: ['a', 'b'] }, 'm').stop).toEqual([
      'a',
      'b',
    ])
  })
})
