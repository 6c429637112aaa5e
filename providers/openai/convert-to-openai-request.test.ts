import { describe, expect, it } from 'vitest'
import type { ChatRequest } from '../spec/chat-types.ts'
import type { ProviderError } from '../spec/provider-error.ts'
import { realOpenAICompat } from './apply-openai-compat.ts'
import { convertToOpenAIRequest } from './convert-to-openai-request.ts'

const base: ChatRequest = { model: 'gpt-4o', messages: [], stream: false }

describe('convertToOpenAIRequest', () => {
  it('converts a conversation with images, tool calls and tool results', () => {
    const body = convertToOpenAIRequest(
      {
        ...base,
        messages: [
          { role: 'system', content: 'You are terse.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is here, and the weather?' },
              {
                type: 'image',
                source: { type: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' },
              },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'reasoning', text: 'I should call the tool.', signature: 'sig' },
              { type: 'text', text: 'Let me check.' },
              {
                type: 'tool-call',
                id: 'toolu_01',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
            ],
          },
          {
            role: 'tool',
            toolCallId: 'toolu_01',
            content: [{ type: 'text', text: '18°C' }],
            isError: false,
          },
          {
            role: 'assistant',
            content: [{ type: 'tool-call', id: 'toolu_02', name: 'noop', arguments: '{}' }],
          },
          {
            role: 'tool',
            toolCallId: 'toolu_02',
            content: [
              { type: 'text', text: 'failed: ' },
              { type: 'text', text: 'timeout' },
            ],
            isError: true,
          },
        ],
      },
      realOpenAICompat
    )
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is here, and the weather?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          {
            id: 'toolu_01',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'toolu_02', type: 'function', function: { name: 'noop', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_02', content: 'failed: timeout' },
    ])
  })

  it('maps tools, tool choice and every sampling field the client set, and nothing else', () => {
    const body = convertToOpenAIRequest(
      {
        ...base,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        tools: [
          {
            name: 'get_weather',
            description: 'Weather by city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
          { name: 'noop', parameters: { type: 'object' } },
        ],
        toolChoice: { type: 'tool', name: 'get_weather' },
        parallelToolCalls: false,
        maxTokens: 256,
        temperature: 0.7,
        topP: 0.9,
        topK: 5,
        stop: ['END'],
        responseFormat: {
          type: 'json_schema',
          name: 'answer',
          schema: { type: 'object' },
          strict: true,
        },
        user: 'user-42',
      },
      realOpenAICompat
    )
    expect(body).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather by city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
        },
        { type: 'function', function: { name: 'noop', parameters: { type: 'object' } } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      max_completion_tokens: 256,
      temperature: 0.7,
      top_p: 0.9,
      stop: ['END'],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      user: 'user-42',
    })
  })

  it('sends string tool choices and simple response formats as OpenAI spells them', () => {
    for (const type of ['auto', 'none', 'required'] as const) {
      expect(
        convertToOpenAIRequest({ ...base, toolChoice: { type } }, realOpenAICompat).tool_choice
      ).toBe(type)
    }
    expect(
      convertToOpenAIRequest({ ...base, responseFormat: { type: 'json_object' } }, realOpenAICompat)
        .response_format
    ).toEqual({
      type: 'json_object',
    })
  })

  it('uses max_tokens for servers that do not know max_completion_tokens', () => {
    const body = convertToOpenAIRequest(
      { ...base, maxTokens: 10 },
      { ...realOpenAICompat, maxCompletionTokens: false }
    )
    expect(body).toMatchObject({ max_tokens: 10 })
    expect(body).not.toHaveProperty('max_completion_tokens')
  })

  it('sends no max tokens at all when the client set none', () => {
    const body = convertToOpenAIRequest(base, realOpenAICompat)
    expect(body).toEqual({ model: 'gpt-4o', messages: [] })
  })

  it('refuses an image inside a tool result, which OpenAI tool messages cannot carry', () => {
    expect(() =>
      convertToOpenAIRequest(
        {
          ...base,
          messages: [
            {
              role: 'tool',
              toolCallId: 't',
              content: [
                { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
              ],
            },
          ],
        },
        realOpenAICompat
      )
    ).toThrow(expect.objectContaining({ kind: 'unsupported', status: 400 }) as ProviderError)
  })
})
