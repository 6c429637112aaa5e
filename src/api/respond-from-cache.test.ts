import { describe, expect, it } from 'vitest'
import type { ChatResult } from '../../providers/spec/chat-types.ts'
import { chunksOfAnswer } from '../core/cache/answer-chunks.ts'
import type { CacheHit } from '../core/cache/prompt-cache.ts'
import { anthropicCodec } from './anthropic/anthropic-codec.ts'
import type { DialectCodec } from './dialect-codec.ts'
import { openAICodec } from './openai/openai-codec.ts'
import { respondFromCache, type CachedResponseEnd } from './respond-from-cache.ts'

const answer: ChatResult = {
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  created: 1,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'hi' }],
      finishReason: { unified: 'stop', raw: 'stop' },
    },
  ],
  usage: {
    inputTokens: 3,
    outputTokens: 1,
    cachedInputTokens: 0,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
  },
}

const storeHit = (encoded: Map<unknown, Uint8Array> | null = new Map()): CacheHit => ({
  source: 'store',
  provider: 'openai',
  model: 'gpt-4o-mini',
  ageMs: 0,
  answer,
  whole: null,
  reader: null,
  savedCostMicroUsd: null,
  encoded,
})

/** `codec`, counting its `encodeResult` calls, and handing what it encodes to the route's keeper, as Responses does. */
const counting = (codec: DialectCodec) => {
  const counted = { calls: 0, codec: { ...codec } as DialectCodec }
  counted.codec.encodeResult = (result, context) => {
    counted.calls += 1
    const encoded = codec.encodeResult(result, context) as Record<string, unknown>
    void context.keep?.(encoded)
    return encoded
  }
  return counted
}

const respond = async (options: {
  hit: CacheHit
  codec: DialectCodec
  keep?: (answer: Record<string, unknown>) => void
}) => {
  const ends: CachedResponseEnd[] = []
  const response = await respondFromCache({
    hit: options.hit,
    stream: false,
    codec: options.codec,
    body: { model: 'cached', messages: [] },
    canonical: () => ({ model: 'cached', messages: [], stream: false }),
    keep: options.keep,
    baseHeaders: {},
    cacheHeaders: (headers) => (headers['x-gatehouse-cache'] = 'hit'),
    now: 0,
    onEnd: (end) => ends.push(end),
  })
  return { response, text: await response.text(), ends }
}

describe('respondFromCache, not streamed', () => {
  it('encodes a stored answer once for a codec that reads the answer alone, and sends those bytes to every hit', async () => {
    const hit = storeHit()
    const counted = counting(openAICodec)
    const { codec } = counted
    const first = await respond({ hit, codec })
    const second = await respond({ hit: { ...hit }, codec })
    expect(counted.calls).toBe(1)
    expect(first.text).toBe(JSON.stringify(openAICodec.encodeResult(answer, {} as never)))
    expect(second.text).toBe(first.text)
    expect(second.response.headers.get('x-gatehouse-cache')).toBe('hit')
    expect(second.response.headers.get('content-type')).toBe('application/json')
    expect(second.ends).toEqual([{ answer, error: null }])
    expect([...hit.encoded!.keys()]).toEqual([codec])
  })

  it('keeps one body per codec: an Anthropic client gets its own, its made-up id the same on every hit', async () => {
    const hit = storeHit()
    const openai = counting(openAICodec)
    const anthropic = counting(anthropicCodec)
    const chat = await respond({ hit, codec: openai.codec })
    const first = await respond({ hit, codec: anthropic.codec })
    const second = await respond({ hit, codec: anthropic.codec })
    expect([openai.calls, anthropic.calls]).toEqual([1, 1])
    expect(JSON.parse(first.text)).toMatchObject({
      type: 'message',
      id: expect.stringMatching(/^msg_/),
    })
    expect(second.text).toBe(first.text)
    expect(chat.text).not.toBe(first.text)
  })

  it('encodes for each hit where the body depends on more than the answer, the route keeps it, or nothing is kept', async () => {
    const perRequest = counting({ ...openAICodec, encodesAnswerAlone: undefined })
    await respond({ hit: storeHit(), codec: perRequest.codec })
    await respond({ hit: storeHit(), codec: perRequest.codec })
    expect(perRequest.calls).toBe(2)

    const kept: Record<string, unknown>[] = []
    const keeping = counting(openAICodec)
    const hit = storeHit()
    await respond({ hit, codec: keeping.codec, keep: (encoded) => void kept.push(encoded) })
    await respond({ hit, codec: keeping.codec, keep: (encoded) => void kept.push(encoded) })
    expect(keeping.calls).toBe(2)
    expect(kept).toHaveLength(2)
    expect(hit.encoded!.size).toBe(0)

    const follower = counting(openAICodec)
    await respond({ hit: storeHit(null), codec: follower.codec })
    await respond({ hit: storeHit(null), codec: follower.codec })
    expect(follower.calls).toBe(2)
  })

  it('sends a whole body (embeddings) as stored, through the rewrite the request asks for', async () => {
    const hit: CacheHit = {
      ...storeHit(),
      answer: null,
      whole: { body: '{"data":[]}', usage: null },
    }
    const plain = await respond({ hit, codec: openAICodec })
    expect(plain.text).toBe('{"data":[]}')
    const rewritten = await respondFromCache({
      hit,
      stream: false,
      codec: openAICodec,
      body: {},
      canonical: () => ({ model: 'm', messages: [], stream: false }),
      transformBody: (bytes) => new TextEncoder().encode(`${new TextDecoder().decode(bytes)} `),
      baseHeaders: {},
      cacheHeaders: () => {},
      now: 0,
      onEnd: () => {},
    })
    expect(await rewritten.text()).toBe('{"data":[]} ')
    expect((await respond({ hit, codec: openAICodec })).text).toBe('{"data":[]}')
  })
})

describe('respondFromCache, streamed', () => {
  const stream = async (hit: CacheHit) => {
    const ends: CachedResponseEnd[] = []
    const response = await respondFromCache({
      hit,
      stream: true,
      codec: openAICodec,
      body: { model: 'cached', messages: [], stream: true },
      canonical: () => ({ model: 'cached', messages: [], stream: true }),
      baseHeaders: {},
      cacheHeaders: () => {},
      now: 0,
      onEnd: (end) => ends.push(end),
    })
    return { text: await response.text(), ends }
  }

  it('replays a stored answer as a stream and ends with that very answer; a follower’s is assembled', async () => {
    const stored = await stream(storeHit())
    expect(stored.text).toContain('"content":"hi"')
    expect(stored.text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(stored.ends).toHaveLength(1)
    expect(stored.ends[0].answer).toBe(answer)

    const chunks = chunksOfAnswer(answer)
    let next = 0
    const follower = await stream({
      ...storeHit(null),
      source: 'flight',
      answer: null,
      reader: {
        read: async () =>
          next < chunks.length
            ? { done: false, value: chunks[next++] }
            : { done: true, value: undefined },
        cancel: async () => {},
      },
    })
    expect(follower.text).toBe(stored.text)
    expect(follower.ends[0].answer).toEqual(answer)
    expect(follower.ends[0].answer).not.toBe(answer)
  })
})
