import OpenAI from 'openai'
import { beforeAll, describe, expect, it } from 'vitest'
import type { ChatResult, Usage } from '../../../providers/spec/chat-types.ts'
import {
  expectValidOpenAI,
  preloadOpenAIValidator,
} from '../../../test/helpers/openapi-validator.ts'
import { convertToResponsesResponse } from './convert-to-responses-response.ts'
import { decodeReasoningContent } from './reasoning-content.ts'
import type { ResponsesContext } from './responses-context.ts'

beforeAll(() => preloadOpenAIValidator())

const usage: Usage = {
  inputTokens: 120,
  outputTokens: 45,
  cachedInputTokens: 100,
  cacheWriteInputTokens: 12,
  reasoningTokens: 30,
}

const resultOf = (
  content: ChatResult['choices'][number]['content'],
  finish: ChatResult['choices'][number]['finishReason'] = { unified: 'stop', raw: 'end_turn' },
  resultUsage: Usage = usage
): ChatResult => ({
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  model: 'claude-sonnet-4-5-20250929',
  created: 1754651500,
  choices: [{ index: 0, content, finishReason: finish }],
  usage: resultUsage,
})

const context = (body: Record<string, unknown> = {}): ResponsesContext => ({
  responseId: 'resp_0123456789abcdef',
  createdAt: 1754651499,
  body: { model: 'claude-sonnet', input: 'hi', ...body },
})

const ids = {
  msg: /^msg_[0-9a-f]{48}$/,
  fc: /^fc_[0-9a-f]{48}$/,
  rs: /^rs_[0-9a-f]{48}$/,
}

describe('convertToResponsesResponse', () => {
  it('writes a completed Response with reasoning, message and function call items in order, and usage', () => {
    const before = Math.floor(Date.now() / 1000)
    const response = convertToResponsesResponse(
      resultOf(
        [
          { type: 'reasoning', text: 'The user wants the weather.', signature: 'EqQBsig' },
          { type: 'text', text: 'Let me ' },
          { type: 'text', text: 'check.' },
          { type: 'tool-call', id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool-call', id: 'toolu_02', name: 'get_time', arguments: '{}' },
        ],
        { unified: 'tool-calls', raw: 'tool_use' }
      ),
      context()
    )
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      id: 'resp_0123456789abcdef',
      object: 'response',
      created_at: 1754651499,
      status: 'completed',
      error: null,
      incomplete_details: null,
      model: 'claude-sonnet-4-5-20250929',
    })
    expect(response.completed_at).toBeGreaterThanOrEqual(before)
    expect(response).not.toHaveProperty('output_text')
    const [reasoning, message, weather, time] = response.output
    expect(response.output).toHaveLength(4)
    expect(reasoning).toEqual({
      id: expect.stringMatching(ids.rs),
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'The user wants the weather.' }],
      encrypted_content: expect.stringMatching(/^gatehouse:reasoning:v1:/),
    })
    expect(
      decodeReasoningContent((reasoning as { encrypted_content: string }).encrypted_content)
    ).toEqual({
      signature: 'EqQBsig',
    })
    expect(message).toEqual({
      id: expect.stringMatching(ids.msg),
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'Let me check.', annotations: [], logprobs: [] }],
    })
    expect(weather).toEqual({
      id: expect.stringMatching(ids.fc),
      type: 'function_call',
      status: 'completed',
      call_id: 'toolu_01',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    })
    expect(time).toMatchObject({ type: 'function_call', call_id: 'toolu_02', arguments: '{}' })
    expect(new Set(response.output.map((item) => item.id)).size).toBe(4)
    expect(response.usage).toEqual({
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 100, cache_write_tokens: 12 },
      output_tokens: 45,
      output_tokens_details: { reasoning_tokens: 30 },
      total_tokens: 165,
    })
  })

  it('echoes every required setting with the API defaults when the client sent only model and input', () => {
    const response = convertToResponsesResponse(resultOf([{ type: 'text', text: 'Hi' }]), context())
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      background: false,
      instructions: null,
      max_output_tokens: null,
      max_tool_calls: null,
      parallel_tool_calls: true,
      previous_response_id: null,
      prompt_cache_key: null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      store: true,
      temperature: 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: 'auto',
      tools: [],
      top_logprobs: 0,
      top_p: 1,
      truncation: 'disabled',
      metadata: {},
    })
    // `user` is a non-nullable string in the schema: absent when the client sent none.
    expect(response).not.toHaveProperty('user')
  })

  it('echoes what a Codex-style request sets, function tools completed with the defaults the schema requires', () => {
    const tools = [
      {
        type: 'function',
        name: 'exec_command',
        description: 'Runs a command',
        parameters: { type: 'object', properties: { cmd: { type: 'string' } } },
      },
      { type: 'function', name: 'noop', strict: false },
      {
        type: 'namespace',
        name: 'files',
        description: 'File tools',
        tools: [{ type: 'function', name: 'read', parameters: { type: 'object', properties: {} } }],
      },
      { type: 'web_search' },
    ]
    const body = {
      instructions: 'You are Codex.',
      tools,
      tool_choice: 'required',
      parallel_tool_calls: false,
      temperature: 0.2,
      top_p: 0.9,
      metadata: { session: 'abc' },
      max_output_tokens: 2048,
      previous_response_id: 'resp_prev',
      reasoning: { effort: 'high', summary: 'auto' },
      text: {
        format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true },
      },
      truncation: 'auto',
      store: false,
      user: 'user-1',
      safety_identifier: 'hash-1',
      prompt_cache_key: 'thread-9',
      include: ['reasoning.encrypted_content'],
      client_metadata: { x: 'y' },
    }
    const response = convertToResponsesResponse(
      resultOf([{ type: 'text', text: '{}' }]),
      context(body)
    )
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      instructions: 'You are Codex.',
      tool_choice: 'required',
      parallel_tool_calls: false,
      temperature: 0.2,
      top_p: 0.9,
      metadata: { session: 'abc' },
      max_output_tokens: 2048,
      previous_response_id: 'resp_prev',
      reasoning: { effort: 'high', summary: 'auto' },
      text: { format: body.text.format, verbosity: 'medium' },
      truncation: 'auto',
      store: false,
      user: 'user-1',
      safety_identifier: 'hash-1',
      prompt_cache_key: 'thread-9',
    })
    expect(response.tools).toEqual([
      { ...tools[0], strict: true },
      { type: 'function', name: 'noop', strict: false, description: null, parameters: null },
      tools[2],
      tools[3],
    ])
    expect(response).not.toHaveProperty('include')
    expect(response).not.toHaveProperty('client_metadata')
    // The client's body is not modified.
    expect(tools[0]).not.toHaveProperty('strict')
  })

  it('answers a function of a namespace tool with its namespace and name', () => {
    const response = convertToResponsesResponse(
      resultOf(
        [{ type: 'tool-call', id: 'toolu_9', name: 'files__read', arguments: '{"path":"a"}' }],
        { unified: 'tool-calls', raw: 'tool_use' }
      ),
      {
        ...context(),
        toolName: (flattened) =>
          flattened.startsWith('files__')
            ? { namespace: 'files', name: flattened.slice('files__'.length) }
            : { name: flattened },
      }
    )
    expectValidOpenAI('Response', response)
    expect(response.output[0]).toMatchObject({
      type: 'function_call',
      call_id: 'toolu_9',
      namespace: 'files',
      name: 'read',
    })
  })

  it('is incomplete with max_output_tokens when the answer was cut by length, its last item too', () => {
    const response = convertToResponsesResponse(
      resultOf([{ type: 'text', text: 'The answer is' }], { unified: 'length', raw: 'max_tokens' }),
      context({ max_output_tokens: 16 })
    )
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      completed_at: null,
      max_output_tokens: 16,
      output: [{ type: 'message', status: 'incomplete' }],
    })
  })

  it('is incomplete with content_filter after a refusal by the upstream filter', () => {
    const response = convertToResponsesResponse(
      resultOf([], { unified: 'content-filter', raw: 'refusal' }),
      context()
    )
    expectValidOpenAI('Response', response)
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
      output: [],
    })
  })

  it('keeps redacted thinking as a reasoning item with an empty summary and its data to replay', () => {
    const response = convertToResponsesResponse(
      resultOf([
        { type: 'reasoning', text: '', redactedData: 'EmwKAhgBEgy3va3pzix' },
        { type: 'reasoning', text: 'unsigned thoughts' },
        { type: 'text', text: 'Done.' },
      ]),
      context()
    )
    expectValidOpenAI('Response', response)
    const [redacted, unsigned] = response.output
    expect(redacted).toMatchObject({ type: 'reasoning', summary: [] })
    expect(
      decodeReasoningContent((redacted as { encrypted_content: string }).encrypted_content)
    ).toEqual({ redactedData: 'EmwKAhgBEgy3va3pzix' })
    expect(unsigned).toEqual({
      id: expect.stringMatching(ids.rs),
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'unsigned thoughts' }],
    })
  })

  it('writes unknown token counts as 0, the wire format requiring numbers', () => {
    const response = convertToResponsesResponse(
      resultOf([{ type: 'text', text: 'Hi' }], undefined, {
        inputTokens: 10,
        outputTokens: null,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      }),
      context()
    )
    expectValidOpenAI('Response', response)
    expect(response.usage).toEqual({
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 10,
    })
  })

  it('is read by the official SDK: output_text, the function call and usage', async () => {
    const response = convertToResponsesResponse(
      resultOf(
        [
          { type: 'reasoning', text: 'thinking', signature: 'sig' },
          { type: 'text', text: 'Hello, ' },
          { type: 'text', text: 'world' },
          { type: 'tool-call', id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Paris"}' },
        ],
        { unified: 'tool-calls', raw: 'tool_use' }
      ),
      context()
    )
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: async () =>
        new Response(JSON.stringify(response), {
          headers: { 'content-type': 'application/json', 'x-request-id': 'req_1' },
        }),
    })
    const read = await client.responses.create({ model: 'claude-sonnet', input: 'hi' })
    expect(read.id).toBe('resp_0123456789abcdef')
    expect(read.status).toBe('completed')
    expect(read.output_text).toBe('Hello, world')
    expect(read.output.map((item) => item.type)).toEqual(['reasoning', 'message', 'function_call'])
    expect(read.output[2]).toMatchObject({
      call_id: 'toolu_01',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    })
    expect(read.usage).toMatchObject({ input_tokens: 120, output_tokens: 45, total_tokens: 165 })
  })
})
