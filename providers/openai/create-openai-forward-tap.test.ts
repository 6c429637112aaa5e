import { describe, expect, it } from 'vitest'
import chatToolCallsJson from './__fixtures__/chat-tool-calls.json?raw'
import chatTextSse from './__fixtures__/chat-text.sse?raw'
import chatReasoningVllmSse from './__fixtures__/chat-reasoning-vllm.sse?raw'
import chatErrorMidwaySse from './__fixtures__/chat-error-midway.sse?raw'
import embeddingsJson from './__fixtures__/embeddings.json?raw'
import { everyBytes } from './__fixtures__/replay-transport.ts'
import { createOpenAIForwardTap, maxTappedJsonBytes } from './create-openai-forward-tap.ts'
import { seededRandom } from '../../test/helpers/seeded-random.ts'

const feed = (
  options: { operation: 'chat-completions' | 'embeddings'; stream: boolean },
  text: string,
  chunkSize = 1 << 30
) => {
  const tap = createOpenAIForwardTap(options)
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  for (const size of everyBytes(text, chunkSize)) {
    tap.write(bytes.subarray(offset, offset + size))
    offset += size
  }
  return tap.finish()
}

describe('createOpenAIForwardTap', () => {
  it('reads model and usage from the trailing usage chunk of a stream split at awkward boundaries', () => {
    for (const size of [1, 3, 17, 4096]) {
      expect(feed({ operation: 'chat-completions', stream: true }, chatTextSse, size)).toEqual({
        model: 'gpt-4o-mini-2024-07-18',
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

  it('reads a stream framed with \\r\\n and comment lines', () => {
    const summary = feed(
      { operation: 'chat-completions', stream: true },
      chatReasoningVllmSse.replaceAll('\n', '\r\n'),
      9
    )
    expect(summary).toEqual({
      model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B',
      usage: {
        inputTokens: 12,
        outputTokens: 19,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
  })

  it('reports no usage when the client did not ask for include_usage', () => {
    const withoutUsage = chatTextSse
      .split('\n\n')
      .filter((event) => !event.includes('"choices":[]'))
      .join('\n\n')
    expect(feed({ operation: 'chat-completions', stream: true }, withoutUsage)).toEqual({
      model: 'gpt-4o-mini-2024-07-18',
      usage: null,
    })
  })

  it('skips parsing content deltas, even ones whose text mentions usage, and still reads the usage chunk', () => {
    const chunk = (fields: string) =>
      `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1",${fields}}\n\n`
    const text = [
      chunk(
        '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null'
      ),
      chunk(
        '"choices":[{"index":0,"delta":{"content":"the \\"usage\\": {\\"total\\": 9} field"},"finish_reason":null}],"usage":null'
      ),
      chunk('"choices":[],"usage" : {"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}'),
      'data: [DONE]\n\n',
    ].join('')
    expect(feed({ operation: 'chat-completions', stream: true }, text, 5)).toMatchObject({
      model: 'm-1',
      usage: { inputTokens: 3, outputTokens: 4 },
    })
  })

  it('reads a whole stream that arrives as one chunk the same way, whatever its content says', () => {
    const chunk = (fields: string) =>
      `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-2",${fields}}\n\n`
    const text = [
      ': keep-alive\n\n',
      chunk(
        '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null'
      ),
      chunk(
        '"choices":[{"index":0,"delta":{"content":"SSE ends with \\ndata: [DONE]\\n\\n and \\"error\\": 1"},"finish_reason":null}],"usage":null'
      ),
      chunk('"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null'),
      chunk('"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}'),
      'data: [DONE]\n\n',
    ].join('')
    for (const size of [text.length, 64, 7]) {
      expect(feed({ operation: 'chat-completions', stream: true }, text, size)).toMatchObject({
        model: 'm-2',
        usage: { inputTokens: 5, outputTokens: 6 },
      })
    }
  })

  it('learns the same from a stream cut into events one by one as from the stream whole, whatever its events hold', () => {
    const random = seededRandom(71)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
    const contents = ['hi', 'é', '😀', '\\"usage\\": {', '\\"error\\"', 'usage', ' ', '{', '"']
    const tails = [',"usage":null', ', "usage" : null', '']
    const usageChunks = [
      '"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}',
      '"choices":[], "usage" :\t{"prompt_tokens":7,"completion_tokens":1}',
      '"choices":[],"usage":\n{"prompt_tokens":2,"completion_tokens":3}',
    ]
    const event = (fields: string) =>
      `data: {"id":"c","object":"chat.completion.chunk","model":"m-${Math.floor(random() * 3)}",${fields}}\n\n`
    const encoder = new TextEncoder()
    for (let round = 0; round < 400; round += 1) {
      // A stream opens with a data chunk (the role's), as OpenAI's do; then deltas, usage, errors, [DONE] at random.
      const events = [event('"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]')]
      for (let count = Math.floor(random() * 12); count >= 0; count -= 1) {
        const kind = random()
        if (kind < 0.08) events.push(event(pick(usageChunks)))
        else if (kind < 0.12)
          events.push('data: {"error":{"message":"boom","type":"server_error"}}\n\n')
        else if (kind < 0.14) events.push('data: [DONE]\n\n')
        else {
          const content = Array.from({ length: Math.floor(random() * 4) }, () =>
            pick(contents)
          ).join('')
          events.push(
            event(`"choices":[{"index":0,"delta":{"content":"${content}"}}]${pick(tails)}`)
          )
        }
      }
      const text = events.join('')
      const whole = feed({ operation: 'chat-completions', stream: true }, text)
      const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
      // Mostly whole events; now and then two together, or two cut anywhere (inside a character too).
      for (let index = 0; index < events.length; index += 1) {
        const kind = index + 1 < events.length ? random() : 1
        if (kind < 0.2) {
          const bytes = encoder.encode(events[index] + events[index + 1])
          const cut = kind < 0.1 ? bytes.length : Math.floor(random() * bytes.length)
          tap.write(bytes.subarray(0, cut))
          tap.write(bytes.subarray(cut))
          index += 1
        } else tap.write(encoder.encode(events[index]))
      }
      expect(tap.finish(), JSON.stringify(text)).toEqual(whole)
    }
  })

  it('reports an in-band error chunk', () => {
    expect(feed({ operation: 'chat-completions', stream: true }, chatErrorMidwaySse, 11)).toEqual({
      model: 'gpt-4o-mini-2024-07-18',
      usage: null,
      error: {
        message: 'The server had an error while processing your request. Sorry about that!',
        type: 'server_error',
      },
    })
  })

  it('survives garbage in a stream without throwing', () => {
    const body =
      'data: {not json\n\ndata: {"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    expect(feed({ operation: 'chat-completions', stream: true }, body)).toMatchObject({
      model: 'm',
      usage: { inputTokens: 3, outputTokens: 4 },
    })
  })

  it('reads a large non-streamed body from its ends, with the same result as a full parse', () => {
    const embeddings = JSON.stringify({
      object: 'list',
      data: Array.from({ length: 50 }, (_, index) => ({
        object: 'embedding',
        index,
        embedding: Array.from({ length: 64 }, () => 0.5),
      })),
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 12, total_tokens: 12 },
    })
    expect(feed({ operation: 'embeddings', stream: false }, embeddings, 4096)).toEqual({
      model: 'text-embedding-3-small',
      usage: {
        inputTokens: 12,
        outputTokens: null,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
    const decoy = JSON.stringify({
      id: 'c1',
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: `${'long answer '.repeat(1000)} the "usage": {"prompt_tokens": 999} field, "model": "x"`,
          },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    })
    expect(feed({ operation: 'chat-completions', stream: false }, decoy, 7)).toMatchObject({
      model: 'gpt-4o-mini',
      usage: { inputTokens: 5, outputTokens: 2 },
    })
  })

  it('parses a 200 body that carries an in-band error whole, and reports the error', () => {
    const body = JSON.stringify({ error: { message: 'upstream overloaded', type: 'server_error' } })
    expect(feed({ operation: 'chat-completions', stream: false }, body)).toEqual({
      usage: null,
      error: { message: 'upstream overloaded', type: 'server_error' },
    })
  })

  it('reads usage from a non-streamed completion, including cached tokens', () => {
    expect(feed({ operation: 'chat-completions', stream: false }, chatToolCallsJson, 100)).toEqual({
      model: 'gpt-4o-mini-2024-07-18',
      usage: {
        inputTokens: 1530,
        outputTokens: 52,
        cachedInputTokens: 1280,
        cacheWriteInputTokens: null,
        reasoningTokens: 0,
      },
    })
  })

  it('reads embeddings usage, leaving output tokens unknown', () => {
    expect(feed({ operation: 'embeddings', stream: false }, embeddingsJson, 50)).toEqual({
      model: 'text-embedding-3-small',
      usage: {
        inputTokens: 9,
        outputTokens: null,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
  })

  it('gives up on usage rather than hold a body larger than its cap', () => {
    const tap = createOpenAIForwardTap({ operation: 'embeddings', stream: false })
    const head = new TextEncoder().encode('{"usage":{"prompt_tokens":1},"data":[')
    tap.write(head)
    tap.write(new Uint8Array(maxTappedJsonBytes))
    expect(tap.finish()).toEqual({ usage: null })
  })

  it('returns no usage for a body that is not JSON', () => {
    expect(feed({ operation: 'chat-completions', stream: false }, '<html>oops</html>')).toEqual({
      usage: null,
    })
  })
})
