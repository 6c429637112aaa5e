/**
 * The complete answer reaches the response's end (`ResponseEnd.answer`, for the prompt cache) when the call asks for
 * it, whatever the way it was served: forwarded streamed or not (the real adapters' usage and answer taps reading the
 * same recorded bytes), or converted and streamed; and never when the call does not ask, or the answer broke off.
 * The path is the real one from the executor on: real adapters over recorded upstream bodies, `respondChat`, and the
 * client's bytes.
 */
import { describe, expect, it } from 'vitest'
import { createFakeTransport } from '../../providers/anthropic/__fixtures__/create-fake-transport.ts'
import anthropicErrorMidStream from '../../providers/anthropic/__fixtures__/anthropic-error-mid-stream.chunks.txt?raw'
import anthropicThinkingTools from '../../providers/anthropic/__fixtures__/anthropic-thinking-tools.chunks.txt?raw'
import { anthropicThinkingToolsAnswer } from '../../providers/anthropic/__fixtures__/anthropic-thinking-tools-answer.ts'
import { createAnthropicAdapter } from '../../providers/anthropic/anthropic-adapter.ts'
import openAIChatTextJson from '../../providers/openai/__fixtures__/chat-text.json?raw'
import openAIChatToolCalls from '../../providers/openai/__fixtures__/chat-tool-calls.sse?raw'
import { chatToolCallsAnswer } from '../../providers/openai/__fixtures__/chat-tool-calls-answer.ts'
import {
  createReplayTransport,
  everyBytes,
} from '../../providers/openai/__fixtures__/replay-transport.ts'
import { createOpenAIAdapter } from '../../providers/openai/openai-adapter.ts'
import type { ProviderAdapter } from '../../providers/spec/provider-adapter.ts'
import { anthropicCodec } from '../../src/api/anthropic/anthropic-codec.ts'
import { openAICodec } from '../../src/api/openai/openai-codec.ts'
import { respondChat, type ResponseEnd } from '../../src/api/respond-chat.ts'
import type { ChatCall } from '../../src/core/chat-call.ts'
import { createExecutor } from '../../src/core/execute.ts'
import {
  createChatCall,
  createFakeDeps,
  executeCall,
  type FakeAdapter,
} from '../helpers/fake-deps.ts'

const createdSeconds = 1_800_000_000

/** A real adapter, registered the way the fake deps register theirs. */
const registered = (adapter: ProviderAdapter, dialect: 'openai' | 'anthropic'): FakeAdapter =>
  Object.assign(adapter, { calls: [], dialect })

const openAI = (body: string, chunkSize: number): FakeAdapter =>
  registered(
    createOpenAIAdapter({
      id: 'openai',
      apiKey: 'sk-test',
      transport: createReplayTransport([{ body, chunkSizes: everyBytes(body, chunkSize) }]),
    }),
    'openai'
  )

const anthropic = (body: string, chunkSize: number): FakeAdapter =>
  registered(
    createAnthropicAdapter({
      id: 'anthropic',
      apiKey: 'sk-ant-test',
      transport: createFakeTransport([
        { body, chunkSize, headers: { 'content-type': 'text/event-stream' } },
      ]),
      now: () => createdSeconds * 1000,
    }),
    'anthropic'
  )

/** Runs `call` through the executor and `respondChat` as a route does, and reads the whole response. */
const serve = async (adapter: FakeAdapter, call: Partial<ChatCall> & { assemble: boolean }) => {
  const deps = createFakeDeps({ adapters: [adapter] })
  const executor = createExecutor(deps, { random: () => 0 })
  const full = createChatCall(call)
  const outcome = await deps.clock.settle(executeCall(executor, call))
  const ends: ResponseEnd[] = []
  const response = await respondChat({
    outcome,
    baseHeaders: {},
    codec: full.dialect === 'anthropic' ? anthropicCodec : openAICodec,
    body: full.body,
    canonical: full.toCanonical,
    assemble: call.assemble,
    onEnd: (end) => void ends.push(end),
  })
  const text = await response.text()
  expect(ends).toHaveLength(1)
  return { kind: outcome.kind, text, end: ends[0] }
}

const thinkingToolsAnswer = anthropicThinkingToolsAnswer(createdSeconds)

const streamedOpenAICall = (assemble: boolean) => ({
  model: 'openai/gpt-4o-mini',
  stream: true,
  body: {
    model: 'openai/gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'Weather in Paris, time in Tokyo?' }],
  },
  assemble,
})

describe('the answer at the end of a forwarded response', () => {
  it('is assembled from a streamed OpenAI forward while the client gets the stream it asked for, usage stripped', async () => {
    const { kind, text, end } = await serve(
      openAI(openAIChatToolCalls, 5),
      streamedOpenAICall(true)
    )
    expect(kind).toBe('forward')
    expect(end.answer).toEqual(chatToolCallsAnswer)
    expect(end.usage).toEqual(chatToolCallsAnswer.usage)
    expect(end.error).toBeNull()
    expect(text).toContain('"arguments":"aris\\"}"')
    expect(text).not.toContain('"usage":{')
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('is converted from a non-streamed OpenAI forward, the body passing unchanged', async () => {
    const { kind, text, end } = await serve(openAI(openAIChatTextJson, 1 << 20), {
      model: 'openai/gpt-4o-mini',
      assemble: true,
    })
    expect(kind).toBe('forward-complete')
    expect(text).toBe(openAIChatTextJson)
    expect(end.answer?.choices[0].content).toEqual([
      { type: 'text', text: 'The capital of France is Paris.' },
    ])
    expect(end.answer?.usage.outputTokens).toBe(8)
  })

  it('is assembled from a streamed Anthropic forward, passed through byte for byte', async () => {
    const { kind, text, end } = await serve(anthropic(anthropicThinkingTools, 7), {
      dialect: 'anthropic',
      model: 'anthropic/claude-sonnet-4-6',
      stream: true,
      body: {
        model: 'anthropic/claude-sonnet-4-6',
        max_tokens: 1024,
        stream: true,
        messages: [{ role: 'user', content: 'Weather?' }],
      },
      assemble: true,
    })
    expect(kind).toBe('forward')
    expect(text).toBe(anthropicThinkingTools)
    expect(end.answer).toEqual(thinkingToolsAnswer)
  })

  it('is absent when the call did not ask for it, the usage still reported', async () => {
    const { kind, end } = await serve(openAI(openAIChatToolCalls, 5), streamedOpenAICall(false))
    expect(kind).toBe('forward')
    expect(end.answer).toBeNull()
    expect(end.usage).toEqual(chatToolCallsAnswer.usage)
  })
})

describe('the answer at the end of a converted stream', () => {
  const convertedCall = (assemble: boolean): Partial<ChatCall> & { assemble: boolean } => ({
    model: 'anthropic/claude-sonnet-4-6',
    stream: true,
    body: {
      model: 'anthropic/claude-sonnet-4-6',
      stream: true,
      messages: [{ role: 'user', content: 'Weather?' }],
    },
    assemble,
  })

  it('is assembled from the chunks an OpenAI client is streamed from an Anthropic upstream', async () => {
    const { kind, text, end } = await serve(
      anthropic(anthropicThinkingTools, 7),
      convertedCall(true)
    )
    expect(kind).toBe('stream')
    expect(text).toContain('"name":"get_weather"')
    expect(end.answer).toEqual(thinkingToolsAnswer)
  })

  it('is absent when the call did not ask for it', async () => {
    const { kind, end } = await serve(anthropic(anthropicThinkingTools, 7), convertedCall(false))
    expect(kind).toBe('stream')
    expect(end.answer).toBeNull()
    expect(end.usage).toEqual(thinkingToolsAnswer.usage)
  })

  it('is absent when the stream broke off with an error, even after the stop reason', async () => {
    const { kind, text, end } = await serve(
      anthropic(anthropicErrorMidStream, 7),
      convertedCall(true)
    )
    expect(kind).toBe('stream')
    expect(text).toContain('Once upon a')
    expect(end.error?.message).toContain('Overloaded')
    expect(end.answer).toBeNull()

    const stop = 'event: message_stop'
    const errorBeforeStop = anthropicThinkingTools.replace(
      stop,
      `event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n${stop}`
    )
    const late = await serve(anthropic(errorBeforeStop, 7), convertedCall(true))
    expect(late.text).toContain('"finish_reason":"tool_calls"')
    expect(late.end.error?.message).toContain('Overloaded')
    expect(late.end.answer).toBeNull()
  })
})
