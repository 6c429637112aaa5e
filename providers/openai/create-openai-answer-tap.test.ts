import { describe, expect, it } from 'vitest'
import chatErrorMidwaySse from './__fixtures__/chat-error-midway.sse?raw'
import chatReasoningVllmSse from './__fixtures__/chat-reasoning-vllm.sse?raw'
import chatTextJson from './__fixtures__/chat-text.json?raw'
import chatTextSse from './__fixtures__/chat-text.sse?raw'
import chatToolCallsSse from './__fixtures__/chat-tool-calls.sse?raw'
import embeddingsJson from './__fixtures__/embeddings.json?raw'
import responsesErrorMidwaySse from './__fixtures__/responses-error-midway.sse?raw'
import responsesTextJson from './__fixtures__/responses-text.json?raw'
import responsesTextSse from './__fixtures__/responses-text.sse?raw'
import responsesToolCallsJson from './__fixtures__/responses-tool-calls.json?raw'
import responsesToolCallsSse from './__fixtures__/responses-tool-calls.sse?raw'
import { chatTextAnswer } from './__fixtures__/chat-text-answer.ts'
import { chatToolCallsAnswer } from './__fixtures__/chat-tool-calls-answer.ts'
import { createReplayTransport, everyBytes } from './__fixtures__/replay-transport.ts'
import { createOpenAIAdapter } from './openai-adapter.ts'
import { createOpenAIAnswerTap } from './create-openai-answer-tap.ts'

type Operation = 'chat-completions' | 'embeddings' | 'responses'

const now = (): number => 1_800_000_000

/** Feeds `text` in chunks of `chunkSize` bytes (cuts inside UTF-8, `\r\n` and JSON), as the body arrives. */
const assemble = (
  text: string,
  options: { stream: boolean; chunkSize?: number; operation?: Operation }
) => {
  const tap = createOpenAIAnswerTap({
    operation: options.operation ?? 'chat-completions',
    stream: options.stream,
    providerId: 'openai',
    now,
  })
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  for (const size of everyBytes(text, options.chunkSize ?? bytes.byteLength)) {
    tap.write(bytes.subarray(offset, offset + size))
    offset += size
  }
  return tap.finish().answer
}

const chunkSizes = [1, 2, 7, 64, undefined]

/** The events of a recorded stream, each with its blank line. */
const eventsOf = (sse: string): string[] => sse.split(/(?<=\n\n)/)

/** What OpenAI answers without `stream` for the completion `chat-tool-calls.sse` streams. */
const toolCallsJson = JSON.stringify({
  id: 'chatcmpl-C3xNv6cRm3WpJ9tE2kBh7Qz5Ls1Xo',
  object: 'chat.completion',
  created: 1_754_651_342,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_Vx3nB8qLr2TzK5mWc9YpD1aF',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city": "Paris"}' },
          },
          {
            id: 'call_Hq7sN4eJw0UbG6tXr2ZkM8oC',
            type: 'function',
            function: { name: 'get_time', arguments: '{"timezone": "Asia/Tokyo"}' },
          },
        ],
        refusal: null,
        annotations: [],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    },
  ],
  usage: {
    prompt_tokens: 1530,
    completion_tokens: 49,
    total_tokens: 1579,
    prompt_tokens_details: { cached_tokens: 1280, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_560af6e559',
})

describe('createOpenAIAnswerTap: streamed chat completions', () => {
  it('assembles the text, finish reason and usage of a recorded stream, wherever the chunks are cut', () => {
    for (const chunkSize of chunkSizes) {
      expect(assemble(chatTextSse, { stream: true, chunkSize })).toEqual({
        id: 'chatcmpl-C3xMa1bXk8YqP4rT6nVs2Lw0Gd9Hf',
        model: 'gpt-4o-mini-2024-07-18',
        created: 1_754_651_301,
        choices: [
          {
            index: 0,
            content: [{ type: 'text', text: 'The capital of France is Paris.' }],
            finishReason: { unified: 'stop', raw: 'stop' },
          },
        ],
        usage: {
          inputTokens: 24,
          outputTokens: 7,
          cachedInputTokens: 0,
          cacheWriteInputTokens: null,
          reasoningTokens: 0,
        },
      })
    }
  })

  it('assembles parallel tool calls with their full arguments, the same answer the non-streamed completion gives', () => {
    for (const chunkSize of chunkSizes)
      expect(assemble(chatToolCallsSse, { stream: true, chunkSize })).toEqual(chatToolCallsAnswer)
    expect(assemble(toolCallsJson, { stream: false })).toEqual(chatToolCallsAnswer)
  })

  it('keeps the reasoning of a vLLM stream framed with \\r\\n and keep-alive comments', () => {
    for (const chunkSize of [1, 5, undefined]) {
      const answer = assemble(chatReasoningVllmSse.replaceAll('\n', '\r\n'), {
        stream: true,
        chunkSize,
      })
      expect(answer?.choices).toEqual([
        {
          index: 0,
          content: [
            { type: 'reasoning', text: 'The user asks 2+2.' },
            { type: 'text', text: '2 + 2 = 4' },
          ],
          finishReason: { unified: 'stop', raw: 'stop' },
        },
      ])
      expect(answer?.usage).toEqual({
        inputTokens: 12,
        outputTokens: 19,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      })
    }
  })

  it('reports no answer for a stream cut short: mid-answer, mid-event, or after the finish but before [DONE]', () => {
    const events = eventsOf(chatTextSse)
    const done = events.findIndex((event) => event.startsWith('data: [DONE]'))
    expect(assemble(events.slice(0, 4).join(''), { stream: true })).toBeNull()
    expect(
      assemble(chatTextSse.slice(0, chatTextSse.indexOf('"finish_reason":"stop"') + 10), {
        stream: true,
        chunkSize: 3,
      })
    ).toBeNull()
    expect(assemble(events.slice(0, done - 1).join(''), { stream: true })).toBeNull()
    expect(assemble(events.slice(0, done).join(''), { stream: true })).toBeNull()
    expect(assemble('', { stream: true })).toBeNull()
  })

  it('reports no answer when the stream carries an error, even after the finish', () => {
    expect(assemble(chatErrorMidwaySse, { stream: true, chunkSize: 4 })).toBeNull()
    const events = eventsOf(chatTextSse)
    const error =
      'data: {"error":{"message":"The server had an error.","type":"server_error","param":null,"code":null}}\n\n'
    for (const chunkSize of chunkSizes) {
      expect(
        assemble([...events.slice(0, -1), error, ...events.slice(-1)].join(''), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
    }
  })

  it('reports no answer for a chunk that is not JSON or not a chunk', () => {
    const events = eventsOf(chatTextSse)
    for (const chunkSize of chunkSizes) {
      expect(
        assemble([events[0], 'data: {"choices":[{"delta":\n\n', ...events.slice(1)].join(''), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
      expect(
        assemble([events[0], 'data: {"choices":"none"}\n\n', ...events.slice(1)].join(''), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
    }
  })

  it('ignores what follows [DONE]', () => {
    expect(
      assemble(`${chatTextSse}data: {"not json\n\n`, { stream: true })?.choices[0].content
    ).toEqual([{ type: 'text', text: 'The capital of France is Paris.' }])
  })
})

describe('createOpenAIAnswerTap: non-streamed bodies', () => {
  it('converts a recorded chat completion, whole or in 1-byte chunks', () => {
    for (const chunkSize of [1, undefined]) {
      expect(assemble(chatTextJson, { stream: false, chunkSize })).toEqual(chatTextAnswer)
    }
  })

  it('reports no answer for a body cut short, an error body, a choice without finish_reason, or no choices', () => {
    expect(assemble(chatTextJson.slice(0, -20), { stream: false })).toBeNull()
    expect(
      assemble('{"error":{"message":"overloaded","type":"server_error"}}', { stream: false })
    ).toBeNull()
    const completion = JSON.parse(chatTextJson) as {
      choices: Array<{ finish_reason: string | null }>
    }
    expect(
      assemble(
        JSON.stringify({
          ...completion,
          choices: [{ ...completion.choices[0], finish_reason: null }],
        }),
        { stream: false }
      )
    ).toBeNull()
    expect(assemble(JSON.stringify({ ...completion, choices: [] }), { stream: false })).toBeNull()
  })

  it('has no answer for embeddings', () => {
    expect(assemble(embeddingsJson, { stream: false, operation: 'embeddings' })).toBeNull()
  })
})

describe('createOpenAIAnswerTap (Responses API)', () => {
  const responses = { operation: 'responses' as const }

  it('assembles a recorded Responses stream into the answer its whole body gives, wherever the chunks are cut', () => {
    for (const [sse, json] of [
      [responsesTextSse, responsesTextJson],
      [responsesToolCallsSse, responsesToolCallsJson],
    ]) {
      // The recordings are of two calls: the same answer but for the tool calls' ids.
      const withoutIds = (answer: ReturnType<typeof assemble>) =>
        JSON.stringify(answer?.choices).replace(/"id":"call_\w+"/g, '"id":""')
      const whole = assemble(json, { ...responses, stream: false })
      expect(whole).not.toBeNull()
      for (const chunkSize of chunkSizes) {
        const streamed = assemble(sse, { ...responses, stream: true, chunkSize })
        expect(withoutIds(streamed)).toBe(withoutIds(whole))
        expect(streamed?.usage).toEqual(whole!.usage)
      }
    }
  })

  it('reports no answer for a stream that failed or was cut short', () => {
    expect(assemble(responsesErrorMidwaySse, { ...responses, stream: true })).toBeNull()
    const events = eventsOf(responsesTextSse)
    expect(assemble(events.slice(0, -1).join(''), { ...responses, stream: true })).toBeNull()
  })

  it('reports no answer the canonical form could not replay: encrypted reasoning, a hosted tool’s work', () => {
    const body = JSON.parse(responsesTextJson) as { output: unknown[] }
    const encrypted = {
      ...body,
      output: [
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAA' },
        ...body.output,
      ],
    }
    const searched = {
      ...body,
      output: [{ type: 'web_search_call', id: 'ws_1', status: 'completed' }, ...body.output],
    }
    for (const value of [encrypted, searched]) {
      expect(assemble(JSON.stringify(value), { ...responses, stream: false })).toBeNull()
      const item = value.output[0]
      const sse = eventsOf(responsesTextSse)
      // The same item finished within the stream, before the text.
      const done = `event: response.output_item.done\ndata: ${JSON.stringify({ type: 'response.output_item.done', output_index: 0, item })}\n\n`
      expect(
        assemble([sse[0], done, ...sse.slice(1)].join(''), { ...responses, stream: true })
      ).toBeNull()
    }
    expect(
      assemble(JSON.stringify({ ...body, status: 'failed' }), { ...responses, stream: false })
    ).toBeNull()
  })
})

describe('OpenAI adapter', () => {
  it('offers the answer tap for forwarded bodies', () => {
    const adapter = createOpenAIAdapter({ id: 'openai', transport: createReplayTransport([]) })
    const tap = adapter.createAnswerTap?.({ operation: 'chat-completions', stream: true })
    tap?.write(new TextEncoder().encode(chatToolCallsSse))
    expect(tap?.finish()).toEqual({ usage: null, answer: chatToolCallsAnswer })
  })
})
