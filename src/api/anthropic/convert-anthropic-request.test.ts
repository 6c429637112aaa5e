import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import { convertAnthropicRequest } from './convert-anthropic-request.ts'

const thrown = (run: () => unknown): GatewayError => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError)
    return error as GatewayError
  }
  throw new Error('expected a GatewayError')
}

describe('convertAnthropicRequest', () => {
  it('maps the basics: system, string content, sampling, stop sequences, user id and streaming', () => {
    const request = convertAnthropicRequest(
      {
        model: 'claude-sonnet-4-5',
        system: 'Be brief.',
        max_tokens: 512,
        temperature: 0.3,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ['END'],
        metadata: { user_id: 'user-42' },
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      },
      'gpt-4o-mini'
    )
    expect(request).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      ],
      maxTokens: 512,
      temperature: 0.3,
      topP: 0.9,
      topK: 40,
      stop: ['END'],
      user: 'user-42',
      stream: true,
      includeUsage: true,
    })
  })

  it('leaves max_tokens absent when the body has none (count_tokens)', () => {
    const request = convertAnthropicRequest(
      { model: 'm', messages: [{ role: 'user', content: 'Hi' }] },
      'gpt-4o'
    )
    expect(request).not.toHaveProperty('maxTokens')
    expect(request).not.toHaveProperty('temperature')
    expect(request.stream).toBe(false)
    expect(request).not.toHaveProperty('includeUsage')
  })

  it('joins system text blocks into one system message', () => {
    const request = convertAnthropicRequest(
      {
        system: [
          { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'Follow the repo rules.' },
        ],
        messages: [{ role: 'user', content: 'Hi' }],
      },
      'gpt-4o'
    )
    expect(request.messages[0]).toEqual({
      role: 'system',
      content: 'You are Claude Code.\n\nFollow the repo rules.',
    })
  })

  it('keeps a system message inside messages at its place, after the top-level system', () => {
    const request = convertAnthropicRequest(
      {
        system: [
          { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
        ],
        messages: [
          { role: 'user', content: 'List the files.' },
          {
            role: 'system',
            content: [
              { type: 'text', text: 'The user is on Linux.', cache_control: { type: 'ephemeral' } },
              { type: 'text', text: 'Today is Monday.' },
            ],
          },
          { role: 'assistant', content: 'Listing.' },
          { role: 'system', content: 'Be brief.' },
          { role: 'system', content: [], output_config: { effort: 'low' } },
        ],
      },
      'gpt-4o'
    )
    expect(request.messages).toEqual([
      { role: 'system', content: 'You are Claude Code.' },
      { role: 'user', content: [{ type: 'text', text: 'List the files.' }] },
      { role: 'system', content: 'The user is on Linux.\n\nToday is Monday.' },
      { role: 'assistant', content: [{ type: 'text', text: 'Listing.' }] },
      { role: 'system', content: 'Be brief.' },
    ])
  })

  it('drops a system message marked clear_at next_user_message once a later user turn exists, as Anthropic hides it', () => {
    const reminder = {
      role: 'system',
      content: 'Answer this one in French.',
      clear_at: 'next_user_message',
    }
    const pending = convertAnthropicRequest(
      { messages: [{ role: 'user', content: 'Hi' }, reminder] },
      'gpt-4o'
    )
    expect(pending.messages.at(-1)).toEqual({
      role: 'system',
      content: 'Answer this one in French.',
    })
    const answered = convertAnthropicRequest(
      {
        messages: [
          { role: 'user', content: 'Hi' },
          reminder,
          { role: 'assistant', content: 'Salut' },
          { role: 'user', content: 'And now?' },
        ],
      },
      'gpt-4o'
    )
    expect(answered.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user'])
  })

  it('rejects what a mid-conversation system message holds beyond text, naming the field', () => {
    const toolAddition = { type: 'tool_addition', tool: { type: 'tool_reference', name: 'Bash' } }
    const error = thrown(() =>
      convertAnthropicRequest(
        {
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'system', content: [toolAddition] },
          ],
        },
        'gpt-4o'
      )
    )
    expect(error).toMatchObject({ status: 400, param: 'messages.1.content.0' })
    expect(error.message).toContain('tool_addition')
    expect(
      thrown(() =>
        convertAnthropicRequest(
          {
            messages: [
              { role: 'user', content: 'Hi' },
              { role: 'system', content: 'x', clear_at: 'later' },
            ],
          },
          'm'
        )
      ).param
    ).toBe('messages.1.clear_at')
    expect(
      thrown(() => convertAnthropicRequest({ messages: [{ role: 'system', content: 42 }] }, 'm'))
        .param
    ).toBe('messages.0.content')
  })

  it('turns a tool round trip into assistant tool calls followed by one tool message per result', () => {
    const request = convertAnthropicRequest(
      {
        messages: [
          { role: 'user', content: 'Weather in Paris and Tokyo?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Two calls.', signature: 'sig' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
              { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: '21°C' },
              {
                type: 'tool_result',
                tool_use_id: 'toolu_2',
                content: [{ type: 'text', text: 'timeout' }],
                is_error: true,
              },
              { type: 'text', text: 'Thanks!' },
            ],
          },
        ],
      },
      'gpt-4o'
    )
    expect(request.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Tokyo?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool-call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool-call', id: 'toolu_2', name: 'get_time', arguments: '{}' },
        ],
      },
      { role: 'tool', toolCallId: 'toolu_1', content: [{ type: 'text', text: '21°C' }] },
      {
        role: 'tool',
        toolCallId: 'toolu_2',
        content: [{ type: 'text', text: 'timeout' }],
        isError: true,
      },
      { role: 'user', content: [{ type: 'text', text: 'Thanks!' }] },
    ])
  })

  it('drops an assistant turn that held only thinking', () => {
    const request = convertAnthropicRequest(
      {
        messages: [
          { role: 'user', content: 'Hi' },
          {
            role: 'assistant',
            content: [{ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }],
          },
          { role: 'user', content: 'Still there?' },
        ],
      },
      'gpt-4o'
    )
    expect(request.messages.map((message) => message.role)).toEqual(['user', 'user'])
  })

  it('converts base64 and URL images', () => {
    const request = convertAnthropicRequest(
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'image',
                source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
              },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
              { type: 'text', text: 'What are these?' },
            ],
          },
        ],
      },
      'gpt-4o'
    )
    expect(request.messages[0]).toEqual({
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        { type: 'text', text: 'What are these?' },
      ],
    })
  })

  it('maps custom tools, tool_choice and disable_parallel_tool_use', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }
    const base = { messages: [{ role: 'user', content: 'Hi' }] }
    const tools = [
      { name: 'get_weather', description: 'Weather now', input_schema: schema },
      { type: 'custom', name: 'noop', input_schema: { type: 'object' }, strict: true },
    ]
    const request = convertAnthropicRequest(
      { ...base, tools, tool_choice: { type: 'any', disable_parallel_tool_use: true } },
      'gpt-4o'
    )
    expect(request.tools).toEqual([
      { name: 'get_weather', description: 'Weather now', parameters: schema },
      { name: 'noop', parameters: { type: 'object' }, strict: true },
    ])
    expect(request.toolChoice).toEqual({ type: 'required' })
    expect(request.parallelToolCalls).toBe(false)
    expect(
      convertAnthropicRequest({ ...base, tool_choice: { type: 'auto' } }, 'm').toolChoice
    ).toEqual({ type: 'auto' })
    expect(
      convertAnthropicRequest({ ...base, tool_choice: { type: 'none' } }, 'm').toolChoice
    ).toEqual({ type: 'none' })
    expect(
      convertAnthropicRequest({ ...base, tool_choice: { type: 'tool', name: 'x' } }, 'm')
    ).toMatchObject({
      toolChoice: { type: 'tool', name: 'x' },
    })
    expect(
      convertAnthropicRequest({ ...base, tool_choice: { type: 'auto' } }, 'm')
    ).not.toHaveProperty('parallelToolCalls')
  })

  it('maps output_config.format to a json_schema response format', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } } }
    const request = convertAnthropicRequest(
      {
        messages: [{ role: 'user', content: 'Hi' }],
        output_config: { format: { type: 'json_schema', schema } },
      },
      'gpt-4o'
    )
    expect(request.responseFormat).toEqual({ type: 'json_schema', name: 'response', schema })
  })

  it('rejects what only Anthropic can do, naming the field', () => {
    const messages = [{ role: 'user', content: 'Hi' }]
    expect(
      thrown(() =>
        convertAnthropicRequest(
          { messages, tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
          'gpt-4o'
        )
      )
    ).toMatchObject({ status: 400, param: 'tools.0.type' })
    expect(
      thrown(() =>
        convertAnthropicRequest(
          { messages, mcp_servers: [{ type: 'url', url: 'https://x' }] },
          'gpt-4o'
        )
      )
    ).toMatchObject({ status: 400, param: 'mcp_servers' })
    expect(
      thrown(() => convertAnthropicRequest({ messages, container: 'container_1' }, 'gpt-4o'))
    ).toMatchObject({
      param: 'container',
    })
    const withDocument = [
      {
        role: 'user',
        content: [
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
          },
        ],
      },
    ]
    const error = thrown(() => convertAnthropicRequest({ messages: withDocument }, 'gpt-4o'))
    expect(error).toMatchObject({ status: 400, param: 'messages.0.content.0' })
    expect(error.message).toMatch(/^messages\.0\.content\.0: A `document` block /)
    expect(error.message).toContain('gpt-4o')
  })

  it('rejects malformed input with the offending path', () => {
    expect(thrown(() => convertAnthropicRequest({ messages: 'Hi' }, 'm')).param).toBe('messages')
    expect(
      thrown(() => convertAnthropicRequest({ messages: [{ role: 'tool', content: 'x' }] }, 'm'))
        .param
    ).toBe('messages.0.role')
    expect(
      thrown(() =>
        convertAnthropicRequest(
          { messages: [{ role: 'user', content: 'x' }], output_config: 'high' },
          'm'
        )
      ).param
    ).toBe('output_config')
    expect(
      thrown(() =>
        convertAnthropicRequest(
          { messages: [{ role: 'user', content: 'x' }], max_tokens: '10' },
          'm'
        )
      ).param
    ).toBe('max_tokens')
    expect(
      thrown(() =>
        convertAnthropicRequest(
          {
            messages: [{ role: 'user', content: 'x' }],
            output_config: { format: { type: 'text' } },
          },
          'm'
        )
      ).param
    ).toBe('output_config.format')
  })

  it('reads `thinking` and `output_config.effort` as the canonical reasoning', () => {
    const messages = [{ role: 'user', content: 'hi' }]
    expect(
      convertAnthropicRequest(
        {
          messages,
          max_tokens: 32000,
          thinking: { type: 'adaptive', display: 'omitted' },
          output_config: { effort: 'high' },
        },
        'gpt-5'
      ).reasoning
    ).toEqual({ effort: 'high', thinking: 'adaptive' })
    expect(
      convertAnthropicRequest(
        { messages, max_tokens: 8000, thinking: { type: 'enabled', budget_tokens: 5000 } },
        'gpt-5'
      ).reasoning
    ).toEqual({ thinking: 'enabled', budgetTokens: 5000 })
    expect(
      convertAnthropicRequest({ messages, thinking: { type: 'disabled' } }, 'gpt-5').reasoning
    ).toEqual({ thinking: 'disabled' })
    expect(convertAnthropicRequest({ messages }, 'gpt-5').reasoning).toBeUndefined()
    expect(() =>
      convertAnthropicRequest({ messages, output_config: { effort: 'minimal' } }, 'gpt-5')
    ).toThrow(/output_config.effort/)
    expect(() =>
      convertAnthropicRequest({ messages, thinking: { type: 'enabled' } }, 'gpt-5')
    ).toThrow(/thinking.budget_tokens/)
  })
})
