import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../core/errors.ts'
import { convertResponsesRequest } from './convert-responses-request.ts'
import { encodeReasoningContent } from './reasoning-content.ts'

const rejectionOf = (body: Record<string, unknown>): GatewayError => {
  try {
    convertResponsesRequest(body, 'claude-sonnet-4-5')
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError)
    return error as GatewayError
  }
  throw new Error('expected a 400')
}

describe('convertResponsesRequest', () => {
  it('reads a string input with instructions and the sampling settings', () => {
    expect(
      convertResponsesRequest(
        {
          model: 'smart',
          instructions: 'Be terse.',
          input: 'Capital of France?',
          max_output_tokens: 64,
          temperature: 0.2,
          top_p: 0.9,
          safety_identifier: 'user-7',
          store: false,
          reasoning: { effort: 'low', summary: 'auto' },
          include: ['reasoning.encrypted_content'],
          prompt_cache_key: 'k',
          metadata: { app: 'x' },
        },
        'claude-sonnet-4-5'
      )
    ).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Capital of France?' }] },
      ],
      stream: false,
      maxTokens: 64,
      temperature: 0.2,
      topP: 0.9,
      safetyIdentifier: 'user-7',
      promptCacheKey: 'k',
      reasoning: { effort: 'low' },
    })
  })

  it('converts a Codex-style turn: developer message, reasoning, namespaced call and its output, built-in tools left out', () => {
    const signature = encodeReasoningContent({
      type: 'reasoning',
      text: 'Look first.',
      signature: 'sig-abc',
    })
    const request = convertResponsesRequest(
      {
        model: 'coder',
        stream: true,
        input: [
          { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Rules.' }] },
          { role: 'user', content: [{ type: 'input_text', text: 'List files.' }] },
          {
            type: 'reasoning',
            id: 'rs_1',
            summary: [{ type: 'summary_text', text: 'Look first.' }],
            encrypted_content: signature,
          },
          { type: 'reasoning', id: 'rs_2', summary: [], encrypted_content: 'opaque-openai-blob' },
          {
            type: 'function_call',
            call_id: 'call_1',
            namespace: 'shell',
            name: 'exec',
            arguments: '{"cmd":"ls"}',
          },
          { type: 'web_search_call', id: 'ws_1', status: 'completed' },
          { type: 'function_call_output', call_id: 'call_1', output: 'a.txt\nb.txt' },
          {
            type: 'message',
            role: 'assistant',
            content: [{ type: 'output_text', text: 'Two files.', annotations: [] }],
          },
          { role: 'user', content: 'Thanks' },
        ],
        tools: [
          { type: 'function', name: 'write_stdin', parameters: { type: 'object' } },
          {
            type: 'namespace',
            name: 'shell',
            description: 'Shell tools',
            tools: [{ type: 'function', name: 'exec', description: 'Run a command' }],
          },
          { type: 'web_search' },
        ],
        tool_choice: 'auto',
        parallel_tool_calls: false,
      },
      'claude-sonnet-4-5'
    )
    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      stream: true,
      includeUsage: true,
      messages: [
        { role: 'system', content: 'Rules.' },
        { role: 'user', content: [{ type: 'text', text: 'List files.' }] },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'Look first.', signature: 'sig-abc' },
            { type: 'tool-call', id: 'call_1', name: 'shell__exec', arguments: '{"cmd":"ls"}' },
          ],
        },
        { role: 'tool', toolCallId: 'call_1', content: [{ type: 'text', text: 'a.txt\nb.txt' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Two files.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
      ],
      tools: [
        { name: 'write_stdin', parameters: { type: 'object' } },
        {
          name: 'shell__exec',
          description: 'Run a command',
          parameters: { type: 'object', properties: {} },
        },
      ],
      toolChoice: { type: 'auto' },
      parallelToolCalls: false,
    })
  })

  it('maps text.format, images and a function tool_choice', () => {
    const request = convertResponsesRequest(
      {
        model: 'smart',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is this?' },
              { type: 'input_image', image_url: 'data:image/PNG;base64,iVBORw0KGgo=' },
              { type: 'input_image', image_url: 'https://example.com/a.jpg', detail: 'low' },
            ],
          },
        ],
        tools: [{ type: 'function', name: 'describe', parameters: { type: 'object' } }],
        tool_choice: { type: 'function', name: 'describe' },
        text: {
          format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
        },
      },
      'm'
    )
    expect(request.messages[0]).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
      ],
    })
    expect(request.toolChoice).toEqual({ type: 'tool', name: 'describe' })
    expect(request.responseFormat).toEqual({
      type: 'json_schema',
      name: 'answer',
      schema: { type: 'object' },
      strict: true,
    })
  })

  it.each([
    [{ input: 'x', background: true }, 'background'],
    [{ input: 'x', conversation: 'conv_1' }, 'conversation'],
    [{ input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input.0.id'],
    [{ input: 'x', tools: [{ type: 'web_search' }, { type: 'file_search' }] }, 'tools'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] },
      'input.0.content.0.type',
    ],
    [
      { input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{' }] },
      'input.0.arguments',
    ],
    [{ input: [{ type: 'mystery' }] }, 'input.0.type'],
    [{ input: 'x', text: { format: { type: 'json_schema', name: 'a' } } }, 'text.format.schema'],
    [{}, 'input'],
  ])('refuses %j with a 400 naming %s', (body, param) => {
    const error = rejectionOf({ model: 'm', ...body })
    expect(error.status).toBe(400)
    expect(error.param).toBe(param)
  })

  it('refuses two tools that flatten to the same name', () => {
    expect(
      rejectionOf({
        model: 'm',
        input: 'x',
        tools: [
          { type: 'function', name: 'shell__exec' },
          {
            type: 'namespace',
            name: 'shell',
            description: 'd',
            tools: [{ type: 'function', name: 'exec' }],
          },
        ],
      }).param
    ).toBe('tools.1.tools.0.name')
  })

  it('reads `reasoning.effort` (and nothing of `reasoning.summary`), refusing an unknown effort', () => {
    expect(
      convertResponsesRequest({ input: 'hi', reasoning: { effort: 'low', summary: 'auto' } }, 'm')
        .reasoning
    ).toEqual({ effort: 'low' })
    expect(
      convertResponsesRequest({ input: 'hi', reasoning: { summary: 'auto' } }, 'm').reasoning
    ).toBeUndefined()
    expect(rejectionOf({ input: 'hi', reasoning: { effort: 'lots' } }).param).toBe(
      'reasoning.effort'
    )
  })

  it('refuses log probabilities, `max_tool_calls` and a maximum output that is not a number', () => {
    expect(rejectionOf({ input: 'hi', top_logprobs: 3 }).param).toBe('top_logprobs')
    expect(
      rejectionOf({
        input: 'hi',
        include: ['reasoning.encrypted_content', 'message.output_text.logprobs'],
      }).param
    ).toBe('include')
    expect(rejectionOf({ input: 'hi', max_tool_calls: 2 }).param).toBe('max_tool_calls')
    expect(rejectionOf({ input: 'hi', max_output_tokens: 'many' }).param).toBe('max_output_tokens')
    // What Codex sends on every call still converts.
    expect(() =>
      convertResponsesRequest({ input: 'hi', include: ['reasoning.encrypted_content'] }, 'm')
    ).not.toThrow()
  })

  it('takes `top_logprobs: 0` or null, which ask for none (what every Response echoes), and sends nothing of it', () => {
    for (const topLogprobs of [0, null]) {
      const request = convertResponsesRequest({ input: 'hi', top_logprobs: topLogprobs }, 'm')
      expect(request).toEqual({
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        stream: false,
      })
    }
    // A converted answer carries no log probabilities (its text parts say `logprobs: []`): asking for some is refused.
    for (const topLogprobs of [1, 20]) {
      const error = rejectionOf({ input: 'hi', top_logprobs: topLogprobs })
      expect(error.status).toBe(400)
      expect(error.param).toBe('top_logprobs')
      expect(error.message).toBe(
        'Log probabilities are not supported by the provider serving this model.'
      )
    }
  })
})
