import { describe, expect, it, vi } from 'vitest'
import chatToolCallsJson from './__fixtures__/chat-tool-calls.json?raw'
import chatTextSse from './__fixtures__/chat-text.sse?raw'
import chatReasoningVllmSse from './__fixtures__/chat-reasoning-vllm.sse?raw'
import chatErrorMidwaySse from './__fixtures__/chat-error-midway.sse?raw'
import embeddingsJson from './__fixtures__/embeddings.json?raw'
import { everyBytes } from './__fixtures__/replay-transport.ts'
import { createOpenAIForwardTap, maxTappedJsonBytes } from './create-openai-forward-tap.ts'
import { convertOpenAIUsage } from './convert-openai-usage.ts'
import { extractOpenAIError } from './read-openai-error.ts'
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
  it('reads a large event sent in many chunks as it reads it whole, searching each chunk once', () => {
    const content = 'x'.repeat(8 * 1024 * 1024)
    const big = `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`
    const rest =
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}\n\n' +
      'data: [DONE]\n\n'
    const whole = feed({ operation: 'chat-completions', stream: true }, big + rest)
    const started = performance.now()
    const chunked = feed({ operation: 'chat-completions', stream: true }, big + rest, 64 * 1024)
    // Linear: a few milliseconds; searched again in every chunk, it took over a second.
    expect(performance.now() - started).toBeLessThan(400)
    expect(chunked).toEqual(whole)
    expect(chunked.usage?.outputTokens).toBe(9)
  })

  it('sees an error member cut between two chunks, and a blank line cut between two', () => {
    const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
    const bytes = (text: string) => new TextEncoder().encode(text)
    tap.write(bytes('data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[]}\n'))
    tap.write(bytes('\ndata: {"model":"m","choices":[],"pad":"'))
    tap.write(bytes('aaaa", "err'))
    expect(tap.inError!()).toBe(false)
    tap.write(bytes('or":{"message":"Upstream failed"'))
    expect(tap.inError!()).toBe(true)
    tap.write(bytes('}}\n'))
    tap.write(bytes('\n'))
    expect(tap.end!()).toEqual({ kind: 'error', error: { message: 'Upstream failed' } })
  })

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
        outputTokensSeen: 7,
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
      // Three reasoning chunks and two content chunks (the fixture is abridged: its usage says 19).
      outputTokensSeen: 5,
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
      outputTokensSeen: 7,
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
      // The role's chunk, one content chunk, the error: one token.
      outputTokensSeen: 1,
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

  it('reads a body larger than its cap from its ends, holding only them, in one piece or many', () => {
    const vector = `[${Array.from({ length: 1536 }, (_, index) => (index % 7) / 7 - 0.5).join(',')}]`
    const data = Array.from(
      { length: Math.ceil(maxTappedJsonBytes / vector.length) + 10 },
      (_, index) => `{"object":"embedding","index":${index},"embedding":${vector}}`
    ).join(',')
    const body = `{"object":"list","data":[${data}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4200,"total_tokens":4200}}`
    expect(body.length).toBeGreaterThan(maxTappedJsonBytes)
    const expected = {
      model: 'text-embedding-3-small',
      usage: expect.objectContaining({ inputTokens: 4200, outputTokens: null }),
    }
    for (const size of [body.length, 1024 * 1024, 65_536, 1_000])
      expect(feed({ operation: 'embeddings', stream: false }, body, size)).toEqual(expected)
  })

  it('gives up on usage, rather than parse whole a body larger than its cap, when its ends do not hold it', () => {
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

  it('reads a small body from its bytes, with the same result as parsing it whole', () => {
    // What the tap learned from a body parsed whole, before it read the bytes (the oracle: the same readers). A body
    // never repeats `model` (the walk takes the first, JSON.parse the last); a repeated `usage` is read as parsed.
    const parsedWhole = (text: string) => {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        return { usage: null }
      }
      if (typeof value !== 'object' || value === null) return { usage: null }
      const body = value as Record<string, unknown>
      const error = extractOpenAIError(body)
      if (error)
        return {
          usage: null,
          error: error.type
            ? { message: error.message, type: error.type }
            : { message: error.message },
        }
      const usage = convertOpenAIUsage(body.usage)
      return typeof body.model === 'string' ? { usage, model: body.model } : { usage }
    }
    const random = seededRandom(29)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
    const numbers = [
      '0',
      '31',
      '-2',
      '1.5',
      '1e2',
      '1e400',
      'null',
      '"7"',
      'true',
      '[1]',
      '{}',
      '007',
    ]
    const details = (names: readonly string[]) =>
      `{${names
        .filter(() => random() < 0.7)
        .map((name) => `"${name}":${pick(numbers)}`)
        .join(',')}}`
    const usageMember = () => {
      const members = [
        `"prompt_tokens":${pick(numbers)}`,
        `"completion_tokens" : ${pick(numbers)}`,
        `"total_tokens":${pick(numbers)}`,
        `"prompt_tokens_details":${pick([details(['cached_tokens', 'cache_write_tokens', 'audio_tokens']), 'null', '5'])}`,
        `"completion_tokens_details":${pick([details(['reasoning_tokens', 'audio_tokens']), 'null'])}`,
        `"prompt_tokens":${pick(numbers)}`,
        '"cost_details":{"upstream":{"usage":{"prompt_tokens":99}}}',
      ].filter(() => random() < 0.6)
      return `"usage":${pick([`{${members.join(',')}}`, `{ ${members.join(' ,\n ')} }`, 'null', '3', '"x"'])}`
    }
    const content = () =>
      JSON.stringify(
        pick(['hi', 'say "usage": {"prompt_tokens": 1}', '"error"', 'é😀', '}{][', 'a\\b'])
      )
    const topMembers = () =>
      [
        `"id":"chatcmpl-1"`,
        `"object":${pick(['"chat.completion"', '"error"', '"list"'])}`,
        `"model":${pick(['"gpt-4o-mini"', '"m\\u00e9"', '"a\\"b"', '5', 'null'])}`,
        `"choices":[{"index":0,"message":{"role":"assistant","content":${content()},"usage":{"prompt_tokens":1}}}]`,
        usageMember(),
        `"error":${pick(['null', '""', '"boom"', '{"message":"boom","type":"server_error"}', '{}'])}`,
        `"message":"an error's message"`,
        `"us\\u0061ge":{"prompt_tokens":4}`,
        usageMember(),
      ].filter(() => random() < 0.5)
    let checked = 0
    for (let round = 0; round < 3000; round += 1) {
      const members = topMembers()
      const text = pick([
        `{${members.join(',')}}`,
        ` \n{ ${members.join(' , ')} }\n`,
        `{${members.join(',')}} trailing`,
        `{${members.join(',')}`,
        `[{${members.join(',')}}]`,
      ])
      const walked = feed({ operation: 'chat-completions', stream: false }, text)
      let valid = true
      try {
        JSON.parse(text)
      } catch {
        valid = false
      }
      // Text that JSON.parse refuses only where the walk steps over it may still be read: never a throw, that is all.
      if (valid) expect(walked, text).toEqual(parsedWhole(text))
      else expect(walked, text).toHaveProperty('usage')
      checked += valid ? 1 : 0
    }
    expect(checked).toBeGreaterThan(1000)
  })

  it('reads a small body without parsing it: what it steps over is matched, not validated', () => {
    // JSON.parse refuses this body (a bare word inside the choices); the walk steps over the choices and reads the rest.
    const text =
      '{"model":"gpt-4o-mini","choices":[{"message":oops}],"usage":{"prompt_tokens":3,"completion_tokens":4}}'
    expect(() => JSON.parse(text)).toThrow()
    expect(feed({ operation: 'chat-completions', stream: false }, text)).toEqual({
      model: 'gpt-4o-mini',
      usage: {
        inputTokens: 3,
        outputTokens: 4,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    })
  })

  it('reads an answer as OpenAI sends it without JSON.parse', () => {
    const parse = vi.spyOn(JSON, 'parse')
    try {
      const summary = feed({ operation: 'chat-completions', stream: false }, chatToolCallsJson)
      expect(summary.usage?.inputTokens).toBe(1530)
      expect(summary.model).toBe('gpt-4o-mini-2024-07-18')
      expect(parse).not.toHaveBeenCalled()
    } finally {
      parse.mockRestore()
    }
  })

  describe('the output tokens a stream carried (`outputTokensSeen`)', () => {
    const stream = { operation: 'chat-completions', stream: true } as const
    // chat-text.sse: the role's chunk, 7 content chunks (one token each: its usage says 7), the finish, the usage.
    const events = chatTextSse.split(/(?<=\n\n)/)
    const contentChunks = events.filter((event) => event.includes('"delta":{"content"'))

    it('counts a complete stream one token a content chunk, as its usage does, however it is split', () => {
      expect(contentChunks).toHaveLength(7)
      for (const size of [1, 2, 3, 5, 17, 64, 4096])
        expect(feed(stream, chatTextSse, size).outputTokensSeen).toBe(7)
      // Framed with \r\n (parsed whole), the same.
      for (const size of [1, 9, 4096])
        expect(feed(stream, chatTextSse.replaceAll('\n', '\r\n'), size).outputTokensSeen).toBe(7)
      // A JSON body is not counted: its usage is there.
      const json = { operation: 'chat-completions', stream: false } as const
      expect(feed(json, chatToolCallsJson)).not.toHaveProperty('outputTokensSeen')
      expect(feed({ operation: 'embeddings', stream: false }, embeddingsJson)).not.toHaveProperty(
        'outputTokensSeen'
      )
    })

    it('counts a stream cut mid-way (the client left, the upstream cut it) as the content chunks that passed', () => {
      for (let passed = 1; passed <= 7; passed += 1) {
        const through = events.slice(0, passed + 1).join('')
        // Cut after a whole event, or inside the next one (its JSON half sent): the tokens that left the upstream.
        const next = events[passed + 1]
        const cuts: [string, number][] = [[through, passed]]
        if (passed < 7) cuts.push([through + next.slice(0, next.length >> 1), passed + 1])
        for (const [text, expected] of cuts)
          for (const size of [1, 3, 7, 4096]) {
            const summary = feed(stream, text, size)
            expect(summary.usage).toBeNull()
            expect(summary.outputTokensSeen, `${passed} ${text.length} ${size}`).toBe(expected)
          }
      }
    })

    it('counts a stream from a server that sends neither usage nor finish, whatever its content says', () => {
      const chunk = (delta: string) =>
        `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":${delta},"finish_reason":null}]}\n\n`
      // Content that looks like framing is inside a JSON string: a newline there is escaped.
      const deltas = [' data: [DONE]', '\ndata: x', ' word', ' "finish_reason": "stop"']
      const text =
        ': keep-alive\n\n' +
        chunk('{"role":"assistant","content":""}') +
        deltas.map((content) => chunk(JSON.stringify({ content }))).join('')
      for (const size of [1, 4, 4096]) expect(feed(stream, text, size).outputTokensSeen).toBe(4)
      // Ending on an event without its blank line: it passed, so it counts.
      expect(feed(stream, text.trimEnd(), 5).outputTokensSeen).toBe(4)
      // No chunk at all: nothing.
      expect(feed(stream, '').outputTokensSeen).toBe(0)
      expect(feed(stream, 'data: [DONE]\n\n').outputTokensSeen).toBe(0)
    })
  })

  describe('how a stream ended (`end`)', () => {
    const event = (finish: string) =>
      `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":${finish}}]}\n\n`
    const endOf = (pieces: string[]) => {
      const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
      for (const piece of pieces) tap.write(new TextEncoder().encode(piece))
      return tap.end?.()
    }

    it('is complete with [DONE] or a finish reason (any spacing, cut anywhere), cut without', () => {
      expect(endOf([event('null'), 'data: [DONE]\n\n'])).toEqual({ kind: 'complete' })
      const spaced = event('"stop"').replace('"finish_reason":', '"finish_reason": ')
      for (const text of [event('"stop"'), spaced])
        for (let at = 1; at < text.length; at += 7)
          expect(endOf([event('null'), text.slice(0, at), text.slice(at)])).toEqual({
            kind: 'complete',
          })
      expect(endOf([event('null'), event('null')])).toEqual({ kind: 'cut' })
      expect(endOf([])).toEqual({ kind: 'cut' })
      // The last event without its blank line: the body ended on it.
      expect(endOf([event('null'), 'data: [DONE]'])).toEqual({ kind: 'complete' })
      expect(endOf([event('null'), 'data: {"choices":[{"delta":{"content":"x"}'])).toEqual({
        kind: 'cut',
      })
      // A finish two batches of events before the end is not the end; pieces without a whole event are no batch.
      expect(endOf([event('"stop"'), event('null'), event('null')])).toEqual({ kind: 'cut' })
      expect(endOf([event('null'), event('"stop"'), 'data: {"cho'])).toEqual({ kind: 'complete' })
      expect(endOf([event('"stop"'), event('null'), 'data: {"cho'])).toEqual({ kind: 'cut' })
      // Framed with \r: the last two chunks' text.
      const cr = (text: string) => text.replaceAll('\n', '\r\n')
      expect(endOf([cr(event('null')), cr(event('"stop"'))])).toEqual({ kind: 'complete' })
      expect(endOf([cr(event('"stop"')), cr(event('null')), cr(event('null'))])).toEqual({
        kind: 'cut',
      })
    })

    it('is the error an in-band error event said', () => {
      expect(
        endOf([event('null'), 'data: {"error":{"message":"melted","type":"server_error"}}\n\n'])
      ).toEqual({
        kind: 'error',
        error: { message: 'melted', type: 'server_error' },
      })
    })
  })
})
