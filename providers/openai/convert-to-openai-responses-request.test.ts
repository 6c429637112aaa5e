import { beforeAll, describe, expect, it } from 'vitest'
import { expectValidOpenAI, preloadOpenAIValidator } from '../../test/helpers/openapi-validator.ts'
import type { ChatRequest } from '../spec/chat-types.ts'
import { isProviderError } from '../spec/provider-error.ts'
import { convertToOpenAIResponsesRequest } from './convert-to-openai-responses-request.ts'

/**
 * Validates a request against the OpenAPI document's `CreateResponse`. A message with a list of parts matches both
 * `EasyInputMessage` and `Item` (`InputMessage`) in the document's `InputItem` `oneOf`, which only its discriminator
 * (dropped by the validator) tells apart: such a message is checked against both schemas on its own, the rest of the
 * request as a whole.
 */
const expectValidRequest = (body: Record<string, unknown>): void => {
  const input = body.input as Array<Record<string, unknown>>
  const ambiguous = (item: Record<string, unknown>) =>
    item.type === 'message' && Array.isArray(item.content)
  for (const item of input.filter(ambiguous)) {
    expectValidOpenAI('InputMessage', item)
    expectValidOpenAI('EasyInputMessage', item)
  }
  expectValidOpenAI('CreateResponse', {
    ...body,
    input: input.filter((item) => !ambiguous(item)),
  })
}

const weather = {
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}

describe('convertToOpenAIResponsesRequest', () => {
  beforeAll(() => preloadOpenAIValidator())

  it('turns a tool-call conversation into instructions and input items', () => {
    const request: ChatRequest = {
      model: 'o3-pro',
      stream: false,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture, and the weather?' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: 'iVBORw0K' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'Thinking about it', signature: 'sig' },
            { type: 'text', text: 'A cat. ' },
            { type: 'text', text: 'Checking the weather.' },
            { type: 'tool-call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          ],
        },
        { role: 'tool', toolCallId: 'call_1', content: [{ type: 'text', text: 'sunny' }] },
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: [{ type: 'text', text: 'So?' }] },
      ],
      tools: [weather, { ...weather, name: 'get_time', strict: true }],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      maxTokens: 1000,
      temperature: 0.5,
      topP: 0.9,
      topK: 40,
      user: 'user-1234',
    }
    const body = convertToOpenAIResponsesRequest(request)
    expect(body).toEqual({
      model: 'o3-pro',
      instructions: 'Be brief.',
      input: [
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is in this picture, and the weather?' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'auto' },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0K', detail: 'auto' },
          ],
        },
        { type: 'message', role: 'assistant', content: 'A cat. Checking the weather.' },
        {
          type: 'function_call',
          call_id: 'call_1',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
        },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        { type: 'message', role: 'developer', content: 'Answer in French.' },
        { type: 'message', role: 'user', content: 'So?' },
      ],
      tools: [
        { type: 'function', ...weather, strict: false },
        { type: 'function', ...weather, name: 'get_time', strict: true },
      ],
      tool_choice: { type: 'function', name: 'get_weather' },
      parallel_tool_calls: false,
      max_output_tokens: 1000,
      temperature: 0.5,
      top_p: 0.9,
      safety_identifier: 'user-1234',
      store: false,
    })
    expectValidRequest(body)
    expectValidRequest({ ...body, stream: true })
  })

  it('maps each response format to text.format and each tool choice', () => {
    const base: ChatRequest = {
      model: 'gpt-5-pro',
      stream: false,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    }
    const schema = { type: 'object', properties: { a: { type: 'string' } } }
    const withSchema = convertToOpenAIResponsesRequest({
      ...base,
      toolChoice: { type: 'required' },
      responseFormat: {
        type: 'json_schema',
        name: 'answer',
        schema,
        strict: true,
        description: 'The answer',
      },
    })
    expect(withSchema).toMatchObject({
      input: [{ type: 'message', role: 'user', content: 'hi' }],
      tool_choice: 'required',
      text: {
        format: {
          type: 'json_schema',
          name: 'answer',
          schema,
          strict: true,
          description: 'The answer',
        },
      },
    })
    expect(withSchema).not.toHaveProperty('instructions')
    expectValidRequest(withSchema)
    const json = convertToOpenAIResponsesRequest({
      ...base,
      toolChoice: { type: 'none' },
      responseFormat: { type: 'json_object' },
    })
    expect(json).toMatchObject({ tool_choice: 'none', text: { format: { type: 'json_object' } } })
    expectValidRequest(json)
  })

  it('sends a tool result holding an image as parts, and a long end-user id as user', () => {
    const body = convertToOpenAIResponsesRequest({
      model: 'gpt-5-codex',
      stream: false,
      user: `user_${'a'.repeat(64)}`,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'screenshot please' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool-call', id: 'call_9', name: 'screenshot', arguments: '{}' }],
        },
        {
          role: 'tool',
          toolCallId: 'call_9',
          isError: false,
          content: [
            { type: 'text', text: 'here' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/s.png' } },
          ],
        },
      ],
    })
    expect(body.input).toEqual([
      { type: 'message', role: 'user', content: 'screenshot please' },
      { type: 'function_call', call_id: 'call_9', name: 'screenshot', arguments: '{}' },
      {
        type: 'function_call_output',
        call_id: 'call_9',
        output: [
          { type: 'input_text', text: 'here' },
          { type: 'input_image', image_url: 'https://example.com/s.png', detail: 'auto' },
        ],
      },
    ])
    expect(body.user).toBe(`user_${'a'.repeat(64)}`)
    expect(body).not.toHaveProperty('safety_identifier')
    expectValidRequest(body)
  })

  it('refuses stop sequences, which the Responses API does not have', () => {
    let caught: unknown
    try {
      convertToOpenAIResponsesRequest({
        model: 'o3-pro',
        stream: false,
        stop: ['END'],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
      })
    } catch (error) {
      caught = error
    }
    expect(isProviderError(caught) && caught.kind === 'unsupported' && caught.status).toBe(400)
    expect(isProviderError(caught) && caught.param).toBe('stop')
  })
})
