import { describe, expect, it } from 'vitest'
import responsesErrorMidwaySse from './__fixtures__/responses-error-midway.sse?raw'
import responsesTextSse from './__fixtures__/responses-text.sse?raw'
import responsesToolCallsNoDeltasSse from './__fixtures__/responses-tool-calls-no-deltas.sse?raw'
import responsesToolCallsSse from './__fixtures__/responses-tool-calls.sse?raw'
import { createChatResultAssembler } from '../shared/assemble-chat-result.ts'
import type { ChatChunk } from '../spec/chat-types.ts'
import { isProviderError } from '../spec/provider-error.ts'
import { everyBytes } from './__fixtures__/replay-transport.ts'
import { parseOpenAIResponsesStream } from './parse-openai-responses-stream.ts'

const fixtures: Record<string, string> = {
  'responses-error-midway.sse': responsesErrorMidwaySse,
  'responses-text.sse': responsesTextSse,
  'responses-tool-calls-no-deltas.sse': responsesToolCallsNoDeltasSse,
  'responses-tool-calls.sse': responsesToolCallsSse,
}

const fixture = (name: string): string => fixtures[name]

/** A body of `text` cut into chunks of `size` bytes (or one chunk). */
const bodyOf = (text: string, size?: number): ReadableStream<Uint8Array> => {
  const bytes = new TextEncoder().encode(text)
  const sizes = size === undefined ? [bytes.length] : everyBytes(text, size)
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      const length = sizes.shift()
      if (length === undefined || offset >= bytes.length) {
        controller.close()
        return
      }
      controller.enqueue(bytes.subarray(offset, offset + length))
      offset += length
    },
  })
}

const read = async (stream: ReadableStream<ChatChunk>): Promise<ChatChunk[]> => {
  const chunks: ChatChunk[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return chunks
    chunks.push(value)
  }
}

const parse = (text: string, size?: number) =>
  read(
    parseOpenAIResponsesStream(bodyOf(text, size), { providerId: 'openai', model: 'asked', now: 1 })
  )

const assembleChatResult = (chunks: ChatChunk[]) => {
  const assembler = createChatResultAssembler()
  for (const chunk of chunks) assembler.push(chunk)
  return assembler.finish()
}

const firstEvent = (text: string) =>
  JSON.parse(text.split('\n')[1].slice('data: '.length)) as { response: Record<string, unknown> }

describe('parseOpenAIResponsesStream', () => {
  it('turns a text answer into start, reasoning and text deltas, finish and usage, however the bytes are cut', async () => {
    const text = fixture('responses-text.sse')
    const created = firstEvent(text).response
    const whole = await parse(text)
    expect(whole[0]).toEqual({
      type: 'start',
      id: created.id,
      model: 'o3-pro',
      created: created.created_at,
    })
    expect(whole.slice(-2)).toEqual([
      { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'completed' } },
      {
        type: 'usage',
        usage: {
          inputTokens: 44,
          outputTokens: 13,
          cachedInputTokens: 0,
          cacheWriteInputTokens: 0,
          reasoningTokens: 8,
        },
      },
    ])
    const result = assembleChatResult(whole)
    expect(result?.choices[0].content).toEqual([
      { type: 'reasoning', text: "**Planning the answer**\n\nI'll answer the last message." },
      { type: 'text', text: 'echo: hello there' },
    ])
    expect(await parse(text, 7)).toEqual(whole)
  })

  it('numbers function calls in output order, with id and name first, then argument deltas', async () => {
    const chunks = await parse(fixture('responses-tool-calls.sse'))
    const calls = chunks.filter((chunk) => chunk.type === 'tool-call-delta')
    expect(calls[0]).toEqual({
      type: 'tool-call-delta',
      choiceIndex: 0,
      index: 0,
      id: 'call_kVx0DdyuwP34oDWJfiLPf6Oc',
      name: 'get_weather',
      argumentsDelta: '',
    })
    expect(calls.filter((chunk) => 'name' in chunk).map((chunk) => chunk.index)).toEqual([0, 1])
    expect(calls.length).toBeGreaterThan(4)
    const result = assembleChatResult(chunks)
    expect(result?.choices[0]).toMatchObject({
      content: [
        {
          type: 'tool-call',
          id: 'call_kVx0DdyuwP34oDWJfiLPf6Oc',
          name: 'get_weather',
          arguments: '{"city":"sample city"}',
        },
        {
          type: 'tool-call',
          id: 'call_KCma3MGVyzGyLOYrW6Oi6xVQ',
          name: 'get_time',
          arguments: '{"zone":"sample zone"}',
        },
      ],
      finishReason: { unified: 'tool-calls', raw: 'completed' },
    })
  })

  it('takes the arguments from .done when no delta carried them, once', async () => {
    const chunks = await parse(fixture('responses-tool-calls-no-deltas.sse'))
    const result = assembleChatResult(chunks)
    expect(result?.choices[0].content).toEqual([
      {
        type: 'tool-call',
        id: expect.any(String),
        name: 'get_weather',
        arguments: '{"city":"sample city"}',
      },
      {
        type: 'tool-call',
        id: expect.any(String),
        name: 'get_time',
        arguments: '{"zone":"sample zone"}',
      },
    ])
  })

  it('fails the stream with the upstream error after the text it already gave', async () => {
    const stream = parseOpenAIResponsesStream(bodyOf(fixture('responses-error-midway.sse')), {
      providerId: 'openai',
      model: 'asked',
      now: 1,
    })
    const reader = stream.getReader()
    const seen: ChatChunk[] = []
    let caught: unknown
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        seen.push(value)
      }
    } catch (error) {
      caught = error
    }
    expect(seen.map((chunk) => chunk.type)).toEqual(['start', 'text-delta'])
    expect(isProviderError(caught)).toBe(true)
    expect(caught).toMatchObject({
      kind: 'http',
      status: 502,
      code: 'server_error',
      type: 'server_error',
    })
  })

  it('fails on response.failed alone', async () => {
    const text = fixture('responses-error-midway.sse')
    const withoutError = text
      .split('\n\n')
      .filter((frame) => !frame.startsWith('event: error'))
      .join('\n\n')
    await expect(parse(withoutError)).rejects.toMatchObject({ kind: 'http', code: 'server_error' })
  })

  it('fails a stream that ends before the response did', async () => {
    const text = fixture('responses-text.sse')
    const cut = text.slice(0, text.indexOf('event: response.completed'))
    await expect(parse(cut)).rejects.toMatchObject({
      kind: 'bad-response',
      message: 'The upstream closed the stream before it finished.',
    })
    await expect(parse(text.slice(0, text.length - 40))).rejects.toMatchObject({
      kind: 'bad-response',
      message: 'The upstream closed the stream before it finished.',
    })
  })
})

describe('parseOpenAIResponsesStream: a refusal', () => {
  it('turns response.refusal.delta into refusal deltas, apart from text', async () => {
    let sequence = 0
    const event = (value: Record<string, unknown>): string =>
      `event: ${String(value.type)}\ndata: ${JSON.stringify({ ...value, sequence_number: sequence++ })}\n\n`
    const at = { item_id: 'msg_1', output_index: 0, content_index: 0 }
    const response = { id: 'resp_1', model: 'o3-pro', created_at: 5, status: 'in_progress' }
    const chunks = await parse(
      [
        event({ type: 'response.created', response }),
        event({ type: 'response.refusal.delta', ...at, delta: 'I cannot ' }),
        event({ type: 'response.refusal.delta', ...at, delta: 'help.' }),
        event({ type: 'response.refusal.done', ...at, refusal: 'I cannot help.' }),
        event({ type: 'response.completed', response: { ...response, status: 'completed' } }),
      ].join('')
    )
    expect(
      chunks.filter((chunk) => chunk.type === 'refusal-delta' || chunk.type === 'text-delta')
    ).toEqual([
      { type: 'refusal-delta', choiceIndex: 0, delta: 'I cannot ' },
      { type: 'refusal-delta', choiceIndex: 0, delta: 'help.' },
    ])
    expect(assembleChatResult(chunks)?.choices[0].content).toEqual([
      { type: 'refusal', text: 'I cannot help.' },
    ])
  })
})
