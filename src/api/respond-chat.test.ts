import { describe, expect, it } from 'vitest'
import chatTextSse from '../../providers/openai/__fixtures__/chat-text.sse?raw'
import type { ChunkReader, ForwardTap } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import type { ChatChunk } from '../../providers/spec/chat-types.ts'
import { streamOf } from '../../test/helpers/fake-deps.ts'
import { pipeableReader } from '../../test/helpers/pipeable-reader.ts'
import type { ChatOutcome } from '../core/chat-call.ts'
import { openAICodec, openAIEmbeddingsCodec } from './openai/openai-codec.ts'
import { responsesCodec } from './openai-responses/responses-codec.ts'
import { convertResponsesRequest } from './openai-responses/convert-responses-request.ts'
import { respondChat } from './respond-chat.ts'
import { rememberSecrets } from '../../providers/shared/redact-secrets.ts'
import { createOpenAIForwardTap } from '../../providers/openai/create-openai-forward-tap.ts'
import { createAnthropicForwardTap } from '../../providers/anthropic/create-anthropic-forward-tap.ts'
import type { RespondOptions, ResponseEnd } from './respond-chat.ts'
import type { BodySink, BodySource } from './response-body.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A tap that keeps what it read, as text, and reports a fixed usage. */
const recordingTap = (): ForwardTap & { seen: string[] } => {
  const seen: string[] = []
  return {
    seen,
    write: (chunk) => seen.push(decoder.decode(chunk)),
    finish: () => ({
      usage: {
        inputTokens: 3,
        outputTokens: seen.length,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
      model: 'm',
    }),
  }
}

const forwardOutcome = (
  reader: ChunkReader<Uint8Array>,
  taps: ForwardTap[],
  rewrite?: (text: string) => string
): ChatOutcome => ({
  kind: 'forward',
  status: 200,
  headers: new Headers({ 'content-type': 'text/event-stream' }),
  reader,
  taps,
  createClientRewrite:
    rewrite &&
    (() => ({
      push: (chunk: Uint8Array) => encoder.encode(rewrite(decoder.decode(chunk))),
      end: () => new Uint8Array(0),
    })),
  servedBy: { provider: 'openai', model: 'm', attempts: 1, firstByteAt: 0 },
})

/** Responds to the outcome, capturing the body source the runtime's carrier would get. */
const respond = async (outcome: ChatOutcome, keepForwarded?: RespondOptions['keepForwarded']) => {
  const ends: ResponseEnd[] = []
  let captured: BodySource | null = null
  await respondChat({
    outcome,
    keepForwarded,
    baseHeaders: {},
    codec: openAICodec,
    body: {},
    canonical: () => {
      throw new Error('not converted')
    },
    assemble: false,
    onEnd: (end) => ends.push(end),
    streamBody: (source) => {
      captured = source
      return new ReadableStream()
    },
  })
  return { source: captured as unknown as BodySource, ends }
}

/** Pipes the source into a sink that keeps text and may refuse (pause) for a while. */
const pipeToText = (source: BodySource, options: { refuseFirst?: boolean } = {}) => {
  const pieces: string[] = []
  let refuse = options.refuseFirst ?? false
  let resolveClosed: () => void = () => {}
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  const sink: BodySink = {
    write(piece) {
      pieces.push(decoder.decode(piece))
      const accepted = !refuse
      refuse = false
      return accepted
    },
    close: () => resolveClosed(),
  }
  const control = source.pipe!(sink)
  return { pieces, closed, control }
}

describe('respondChat: a forwarded stream, piped', () => {
  it('offers a pipe only when the reader has one', async () => {
    const pulled = await respond(forwardOutcome(streamOf([encoder.encode('a')]).getReader(), []))
    expect(pulled.source.pipe).toBeUndefined()
    const piped = await respond(
      forwardOutcome(pipeableReader(streamOf([encoder.encode('a')]).getReader()), [])
    )
    expect(piped.source.pipe).toBeTypeOf('function')
  })

  it('gives every chunk to every tap as the upstream sent it and the rewritten bytes to the sink, then ends once', async () => {
    const chunks = ['data: 1\n\n', 'data: drop\n\n', 'data: 2\n\n'].map((text) =>
      encoder.encode(text)
    )
    const first = recordingTap()
    const second = recordingTap()
    const { source, ends } = await respond(
      forwardOutcome(pipeableReader(streamOf(chunks).getReader()), [first, second], (text) =>
        text.includes('drop') ? '' : text.toUpperCase()
      )
    )
    const piped = pipeToText(source)
    await piped.closed
    expect(piped.pieces).toEqual(['DATA: 1\n\n', 'DATA: 2\n\n'])
    expect(first.seen).toEqual(['data: 1\n\n', 'data: drop\n\n', 'data: 2\n\n'])
    expect(second.seen).toEqual(first.seen)
    expect(ends).toHaveLength(1)
    expect(ends[0]).toMatchObject({ status: 200, error: null, usage: { outputTokens: 3 } })
  })

  it('holds the upstream while the sink has asked for a pause', async () => {
    const chunks = ['a', 'b', 'c'].map((text) => encoder.encode(text))
    const { source } = await respond(
      forwardOutcome(pipeableReader(streamOf(chunks).getReader()), [])
    )
    const piped = pipeToText(source, { refuseFirst: true })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(piped.pieces).toEqual(['a'])
    piped.control.resume()
    await piped.closed
    expect(piped.pieces).toEqual(['a', 'b', 'c'])
  })

  it("ends a stream that breaks with the dialect's error event, and reports the error once", async () => {
    let sent = false
    const failure = new ProviderError({
      kind: 'connection',
      status: 502,
      message: 'The upstream closed.',
    })
    const upstream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) controller.error(failure)
        else {
          sent = true
          controller.enqueue(encoder.encode('data: 1\n\n'))
        }
      },
    })
    const { source, ends } = await respond(forwardOutcome(pipeableReader(upstream.getReader()), []))
    const piped = pipeToText(source)
    await piped.closed
    expect(piped.pieces[0]).toBe('data: 1\n\n')
    expect(piped.pieces).toHaveLength(2)
    expect(JSON.parse(piped.pieces[1].replace(/^data: /, ''))).toMatchObject({
      error: { message: expect.stringContaining('The upstream closed.') },
    })
    expect(ends).toHaveLength(1)
    expect(ends[0].error).toMatchObject({ status: 502 })
  })

  it('turns a tap that throws into an error event of its own and cancels the upstream', async () => {
    const upstream = streamOf([encoder.encode('data: 1\n\n'), encoder.encode('data: 2\n\n')], {
      hold: true,
    })
    const throwing: ForwardTap = {
      write: () => {
        throw new TypeError('tap bug')
      },
      finish: () => ({ usage: null }),
    }
    const { source, ends } = await respond(
      forwardOutcome(pipeableReader(upstream.getReader()), [throwing])
    )
    const piped = pipeToText(source)
    await piped.closed
    expect(piped.pieces).toHaveLength(1)
    expect(piped.pieces[0]).toContain('"error"')
    expect(ends[0].error).toMatchObject({ status: 500 })
    expect(upstream.cancelled()).toBe(true)
  })

  it('after a cancel (the client went away), tells the sink nothing and ends once', async () => {
    const upstream = streamOf([encoder.encode('a')], { hold: true })
    const { source, ends } = await respond(forwardOutcome(pipeableReader(upstream.getReader()), []))
    const piped = pipeToText(source)
    await new Promise((resolve) => setTimeout(resolve, 10))
    await source.cancel(new Error('client gone'))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(piped.pieces).toEqual(['a'])
    expect(upstream.cancelled()).toBe(true)
    expect(ends).toHaveLength(1)
  })
})

/** A tap that learns what the upstream stored from a chunk reading `STORED`, as the Responses tap from its last event. */
const storingTap = (): ForwardTap => {
  let stored: { id: string; itemIds: string[] } | null = null
  return {
    write: (chunk) => {
      if (decoder.decode(chunk).includes('STORED')) stored = { id: 'resp_1', itemIds: ['msg_1'] }
    },
    finish: () => (stored === null ? { usage: null } : { usage: null, stored }),
    stored: () => stored,
  }
}

/** A record write the test settles. */
const pendingKeep = () => {
  const calls: unknown[][] = []
  let settle: () => void = () => {}
  const written = new Promise<void>((resolve) => (settle = resolve))
  const keep = (...args: unknown[]): Promise<unknown> => {
    calls.push(args)
    return written
  }
  return { calls, keep, settle }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20))

describe('respondChat: what a forwarded answer says the upstream stored is recorded before the client reads it', () => {
  it('pulled: the chunk that told it waits for the record; the rest follows', async () => {
    const chunks = ['a', 'STORED', 'b'].map((text) => encoder.encode(text))
    const keep = pendingKeep()
    const { source } = await respond(
      forwardOutcome(streamOf(chunks).getReader(), [storingTap()]),
      keep.keep
    )
    expect(decoder.decode((await source.pull())!)).toBe('a')
    let second: Uint8Array | null | undefined
    const pulled = source.pull().then((piece) => (second = piece))
    await tick()
    expect(keep.calls).toEqual([[{ id: 'resp_1', itemIds: ['msg_1'] }, 'openai']])
    expect(second).toBeUndefined()
    keep.settle()
    await pulled
    expect(decoder.decode(second!)).toBe('STORED')
    expect(decoder.decode((await source.pull())!)).toBe('b')
    expect(await source.pull()).toBeNull()
    expect(keep.calls).toHaveLength(1)
  })

  it('piped: the chunk, what follows and the end are held back until the record is written', async () => {
    const chunks = ['a', 'STORED', 'b'].map((text) => encoder.encode(text))
    const keep = pendingKeep()
    const { source, ends } = await respond(
      forwardOutcome(pipeableReader(streamOf(chunks).getReader()), [storingTap()]),
      keep.keep
    )
    const piped = pipeToText(source)
    let closed = false
    void piped.closed.then(() => (closed = true))
    await tick()
    expect(piped.pieces).toEqual(['a'])
    expect(closed).toBe(false)
    expect(ends).toHaveLength(0)
    keep.settle()
    await piped.closed
    expect(piped.pieces).toEqual(['a', 'STORED', 'b'])
    expect(ends).toHaveLength(1)
  })

  it('piped: an end that comes while the record is written waits for it too', async () => {
    const keep = pendingKeep()
    const { source } = await respond(
      forwardOutcome(pipeableReader(streamOf([encoder.encode('STORED')]).getReader()), [
        storingTap(),
      ]),
      keep.keep
    )
    const piped = pipeToText(source)
    let closed = false
    void piped.closed.then(() => (closed = true))
    await tick()
    expect(piped.pieces).toEqual([])
    expect(closed).toBe(false)
    keep.settle()
    await piped.closed
    expect(piped.pieces).toEqual(['STORED'])
  })

  it('whole: the response is given once the record is written', async () => {
    const keep = pendingKeep()
    let answered = false
    const answer = respond(
      {
        kind: 'forward-complete',
        status: 200,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: encoder.encode('{"STORED":true}'),
        taps: [storingTap()],
        servedBy: { provider: 'openai', model: 'm', attempts: 1, firstByteAt: 0 },
      },
      keep.keep
    ).then(() => (answered = true))
    await tick()
    expect(keep.calls).toEqual([[{ id: 'resp_1', itemIds: ['msg_1'] }, 'openai']])
    expect(answered).toBe(false)
    keep.settle()
    await answer
    expect(answered).toBe(true)
  })
})

describe("respondChat: an upstream's in-band error that repeats the gateway's credential", () => {
  const key = 'gsk_live_inBandLeak0123456789abcdef'
  rememberSecrets([key])
  const content =
    'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi ' +
    'é"},"finish_reason":null}]}\n\n'
  const openAIError = `data: {"error":{"message":"Invalid API Key provided: ${key}","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}\n\n`
  /** `text` cut at each of `at` (byte offsets), so the event and the key fall across chunks. */
  const cut = (text: string, at: number[]): Uint8Array[] => {
    const bytes = encoder.encode(text)
    const edges = [0, ...at, bytes.byteLength]
    return edges.slice(1).map((end, index) => bytes.slice(edges[index], end))
  }
  const errorStart = encoder.encode(content).byteLength
  const keyStart = errorStart + openAIError.indexOf(key)
  const splits: [string, number[]][] = [
    ['whole', [errorStart]],
    ['the key cut in two', [errorStart, keyStart + 7]],
    ['the "error" member cut, then the key', [errorStart + 9, keyStart + 3, keyStart + 20]],
    [
      'one byte at a time around the key',
      [errorStart, ...Array.from({ length: 12 }, (_, index) => keyStart - 2 + index)],
    ],
  ]

  for (const [name, at] of splits) {
    it(`OpenAI, piped, ${name}: masked; what came before passes byte for byte`, async () => {
      const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
      const { source, ends } = await respond(
        forwardOutcome(pipeableReader(streamOf(cut(content + openAIError, at)).getReader()), [tap])
      )
      const piped = pipeToText(source)
      await piped.closed
      const text = piped.pieces.join('')
      expect(text).not.toContain(key)
      expect(text).toBe(content + openAIError.replace(key, '[redacted]'))
      expect(piped.pieces[0].startsWith(content)).toBe(true)
      expect(ends).toHaveLength(1)
    })

    it(`OpenAI, pulled, ${name}: masked`, async () => {
      const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
      const { source } = await respond(
        forwardOutcome(streamOf(cut(content + openAIError, at)).getReader(), [tap])
      )
      const pieces: string[] = []
      for (let piece = await source.pull(); piece !== null; piece = await source.pull())
        pieces.push(decoder.decode(piece))
      expect(pieces.join('')).toBe(content + openAIError.replace(key, '[redacted]'))
    })
  }

  it("Anthropic, an `event: error` cut inside its key, then the gateway's own error event: masked, in order", async () => {
    const start =
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    const error = `event: error\ndata: {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ${key}"}}\n\n`
    const text = start + error
    const keyAt =
      encoder.encode(start).byteLength + encoder.encode(error).indexOf(encoder.encode(key)[0])
    const chunks = cut(text, [encoder.encode(start).byteLength + 14, keyAt + 5])
    let index = 0
    const upstream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (index < chunks.length) controller.enqueue(chunks[index++])
        else
          controller.error(
            new ProviderError({ kind: 'connection', status: 502, message: 'closed' })
          )
      },
    })
    const tap = createAnthropicForwardTap({ operation: 'messages', stream: true })
    const { source } = await respond(forwardOutcome(pipeableReader(upstream.getReader()), [tap]))
    const piped = pipeToText(source)
    await piped.closed
    const all = piped.pieces.join('')
    expect(all).not.toContain(key)
    expect(all.startsWith(start + error.replace(key, '[redacted]'))).toBe(true)
    expect(all.slice((start + error.replace(key, '[redacted]')).length)).toContain('"error"')
  })

  it('a whole body with an `error` member: masked; an answer without one is sent as it came', async () => {
    const bodyOf = async (text: string) => {
      const response = await respondChat({
        outcome: {
          kind: 'forward-complete',
          status: 200,
          headers: new Headers({ 'content-type': 'application/json' }),
          body: encoder.encode(text),
          taps: [createOpenAIForwardTap({ operation: 'chat-completions', stream: false })],
          servedBy: { provider: 'openai', model: 'm', attempts: 1, firstByteAt: 0 },
        },
        baseHeaders: {},
        codec: openAICodec,
        body: {},
        canonical: () => {
          throw new Error('not converted')
        },
        assemble: false,
        onEnd: () => {},
      })
      return response.text()
    }
    expect(await bodyOf(`{"error":{"message":"bad key ${key}","type":"x"}}`)).toBe(
      '{"error":{"message":"bad key [redacted]","type":"x"}}'
    )
    const answer = `{"id":"c","object":"chat.completion","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`
    expect(await bodyOf(answer)).toBe(answer)
  })
})

describe('respondChat: the output tokens a stream carried (`outputTokensSeen`)', () => {
  // chat-text.sse: the role's chunk, 7 content chunks (a token each), the finish, the usage, [DONE].
  const events = chatTextSse.split(/(?<=\n\n)/).map((event) => encoder.encode(event))

  it('a forwarded stream the client left mid-way: what its tap counted, with no usage', async () => {
    const upstream = streamOf(events.slice(0, 5), { hold: true })
    const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
    const { source, ends } = await respond(forwardOutcome(upstream.getReader(), [tap]))
    for (let index = 0; index < 5; index += 1) await source.pull()
    await source.cancel(undefined)
    expect(ends).toHaveLength(1)
    expect(ends[0]).toMatchObject({ usage: null, outputTokensSeen: 4, error: { status: 499 } })
  })

  it('a forwarded stream that ended, piped: its count beside its usage; the first tap that counts wins', async () => {
    const tap = createOpenAIForwardTap({ operation: 'chat-completions', stream: true })
    const { source, ends } = await respond(
      forwardOutcome(pipeableReader(streamOf(events).getReader()), [recordingTap(), tap])
    )
    await pipeToText(source).closed
    expect(ends[0].outputTokensSeen).toBe(7)
  })

  it('a whole body, or a tap that does not count: none', async () => {
    const ends: ResponseEnd[] = []
    await respondChat({
      outcome: {
        kind: 'forward-complete',
        status: 200,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: encoder.encode(
          '{"id":"c","object":"chat.completion","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
        ),
        taps: [createOpenAIForwardTap({ operation: 'chat-completions', stream: false })],
        servedBy: { provider: 'openai', model: 'm', attempts: 1, firstByteAt: 0 },
      },
      baseHeaders: {},
      codec: openAICodec,
      body: {},
      canonical: () => {
        throw new Error('not converted')
      },
      assemble: false,
      onEnd: (end) => ends.push(end),
    })
    expect(ends[0].outputTokensSeen).toBeNull()
    const streamed = await respond(
      forwardOutcome(pipeableReader(streamOf(events).getReader()), [recordingTap()])
    )
    await pipeToText(streamed.source).closed
    expect(streamed.ends[0].outputTokensSeen).toBeNull()
  })

  const usage = {
    inputTokens: 3,
    outputTokens: 9,
    cachedInputTokens: null,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
  }
  /** Reasoning, text and tool-call arguments: 8, 12 and 16 ASCII characters, 9 tokens at 4 a token. */
  const converted: ChatChunk[] = [
    { type: 'start', id: 'chatcmpl-1', model: 'm-1', created: 1 },
    { type: 'reasoning-delta', choiceIndex: 0, delta: 'Thinking' },
    { type: 'text-delta', choiceIndex: 0, delta: 'Hello there!' },
    {
      type: 'tool-call-delta',
      choiceIndex: 0,
      index: 0,
      id: 'call_1',
      name: 'f',
      argumentsDelta: '',
    },
    { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '{"city": "Paris"' },
    { type: 'finish', choiceIndex: 0, finishReason: { unified: 'tool-calls', raw: 'tool_calls' } },
    { type: 'usage', usage },
  ]
  const respondConverted = async (chunks: ReadableStream<ChatChunk>) => {
    const ends: ResponseEnd[] = []
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }
    const response = await respondChat({
      outcome: {
        kind: 'stream',
        reader: chunks.getReader(),
        servedBy: { provider: 'anthropic', model: 'm', attempts: 1, firstByteAt: 0 },
      },
      baseHeaders: {},
      codec: openAICodec,
      body,
      canonical: () => ({
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        stream: true,
        includeUsage: true,
      }),
      assemble: false,
      onEnd: (end) => ends.push(end),
    })
    return { response, ends }
  }

  it("a converted stream (a Web stream, `watchChunks`): its deltas' text weighed, beside its usage", async () => {
    const { response, ends } = await respondConverted(streamOf(converted))
    await response.text()
    expect(ends).toHaveLength(1)
    expect(ends[0]).toMatchObject({ usage: { outputTokens: 9 }, outputTokensSeen: 9, error: null })
  })

  it('a converted stream the client left mid-way: what passed, with no usage', async () => {
    const upstream = streamOf(converted.slice(0, 3), { hold: true })
    const { response, ends } = await respondConverted(upstream)
    const reader = response.body!.getReader()
    let text = ''
    while (!text.includes('Hello there!')) text += decoder.decode((await reader.read()).value)
    await reader.cancel()
    expect(upstream.cancelled()).toBe(true)
    expect(ends).toHaveLength(1)
    // "Thinking" and "Hello there!": 20 characters.
    expect(ends[0]).toMatchObject({ usage: null, outputTokensSeen: 5 })
    expect(ends[0].error).not.toBeNull()
  })
})

describe('respondChat: embeddings from embed', () => {
  const outcome: ChatOutcome = {
    kind: 'embeddings',
    result: {
      model: 'tiny-embed',
      embeddings: [new Float32Array([0.6, 0.8])],
      usage: {
        inputTokens: 4,
        outputTokens: 0,
        cachedInputTokens: 0,
        cacheWriteInputTokens: 0,
        reasoningTokens: 0,
      },
    },
    servedBy: { provider: 'local', model: 'tiny-embed', attempts: 1, firstByteAt: 0 },
  }

  const answer = async (body: Record<string, unknown>, assemble: boolean) => {
    const ends: ResponseEnd[] = []
    const response = await respondChat({
      outcome,
      baseHeaders: {},
      codec: openAIEmbeddingsCodec,
      body,
      canonical: () => {
        throw new Error('embeddings have no chat form')
      },
      assemble,
      // A forwarded body's float → base64 rewrite: not for embeddings the codec encoded as asked.
      transformBody: () => {
        throw new Error('not for embeddings from embed')
      },
      onEnd: (end) => ends.push(end),
    })
    return { response, text: await response.text(), ends }
  }

  it('encodes them as the body asks, and ends with their usage and, for the cache, the body', async () => {
    const floats = await answer({ model: 'm', input: 'hi' }, true)
    expect(floats.response.headers.get('x-gatehouse-provider')).toBe('local')
    expect(JSON.parse(floats.text)).toMatchObject({
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [Math.fround(0.6), Math.fround(0.8)] }],
      usage: { prompt_tokens: 4, total_tokens: 4 },
    })
    expect(floats.ends).toHaveLength(1)
    expect(floats.ends[0]).toMatchObject({ status: 200, model: 'tiny-embed', error: null })
    expect(floats.ends[0].usage?.inputTokens).toBe(4)
    expect(decoder.decode(floats.ends[0].body!)).toBe(floats.text)

    const base64 = await answer({ model: 'm', input: 'hi', encoding_format: 'base64' }, false)
    expect(JSON.parse(base64.text).data[0].embedding).toBe('mpkZP83MTD8=')
    expect(base64.ends[0].body).toBeNull()
  })
})

describe('respondChat: a converted stream whose codec encodes it as a source', () => {
  const chunks: ChatChunk[] = [
    { type: 'start', id: 'chatcmpl-1', model: 'm-1', created: 1 },
    { type: 'text-delta', choiceIndex: 0, delta: 'Hi' },
    { type: 'finish', choiceIndex: 0, finishReason: { unified: 'stop', raw: 'stop' } },
    {
      type: 'usage',
      usage: {
        inputTokens: 3,
        outputTokens: 1,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    },
  ]
  const body = { model: 'm', input: 'hi', stream: true }

  const respondConverted = async (source: ReadableStream<ChatChunk>) => {
    const ends: ResponseEnd[] = []
    const answerChunks: ChatChunk[] = []
    let captured: BodySource | null = null
    const response = await respondChat({
      outcome: {
        kind: 'stream',
        reader: source.getReader(),
        servedBy: { provider: 'chat-only', model: 'm', attempts: 1, firstByteAt: 0 },
      },
      baseHeaders: {},
      codec: responsesCodec,
      body,
      canonical: () => convertResponsesRequest(body, 'm'),
      assemble: true,
      onAnswerChunk: (chunk) => answerChunks.push(chunk),
      onEnd: (end) => ends.push(end),
      streamBody: (bodySource) => {
        captured = bodySource
        return new ReadableStream()
      },
    })
    return { response, source: captured as unknown as BodySource, ends, answerChunks }
  }

  it("goes to the runtime's carrier as a source, watched for usage, the answer and the end", async () => {
    const { response, source, ends, answerChunks } = await respondConverted(streamOf(chunks))
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const pieces: string[] = []
    for (let piece = await source.pull(); piece !== null; piece = await source.pull())
      pieces.push(decoder.decode(piece))
    expect(pieces.join('')).toMatch(/^event: response.created\n.*event: response.completed\n/s)
    expect(answerChunks).toEqual(chunks)
    expect(ends).toHaveLength(1)
    expect(ends[0]).toMatchObject({ status: 200, model: 'm-1', error: null })
    expect(ends[0].usage).toMatchObject({ inputTokens: 3, outputTokens: 1 })
    expect(ends[0].outputTokensSeen).toBe(1)
    expect(ends[0].answer?.choices[0].content).toEqual([{ type: 'text', text: 'Hi' }])
  })

  it('reports a client gone as the end, once, and cancels the upstream', async () => {
    const upstream = streamOf(chunks, { hold: true })
    const { source, ends } = await respondConverted(upstream)
    await source.pull()
    await source.cancel(new ProviderError({ kind: 'aborted', status: 499, message: 'client gone' }))
    expect(upstream.cancelled()).toBe(true)
    expect(ends).toHaveLength(1)
    expect(ends[0].error).not.toBeNull()
    expect(ends[0].answer).toBeNull()
    // Only the start had passed: nothing generated yet.
    expect(ends[0].outputTokensSeen).toBe(0)
  })

  it('reports a broken upstream as the end, and ends the body with the failure events', async () => {
    let sent = 0
    const broken = new ReadableStream<ChatChunk>({
      pull(controller) {
        if (sent < 2) controller.enqueue(chunks[sent++])
        else
          controller.error(new ProviderError({ kind: 'connection', status: 502, message: 'reset' }))
      },
    })
    const { source, ends } = await respondConverted(broken)
    const pieces: string[] = []
    for (let piece = await source.pull(); piece !== null; piece = await source.pull())
      pieces.push(decoder.decode(piece))
    expect(pieces.join('')).toMatch(/event: error\n.*event: response.failed\n/s)
    expect(ends).toHaveLength(1)
    expect(ends[0].error?.message).toContain('reset')
  })
})
