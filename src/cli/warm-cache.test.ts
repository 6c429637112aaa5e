import { describe, expect, it } from 'vitest'
import { warmCache } from './warm-cache.ts'

type Sent = { url: string; headers: Record<string, string>; body: Record<string, unknown> }

/** A gateway stand-in: answers each request after `delayMs` with what `answer` says, and counts what is in flight. */
const fakeGateway = (
  answer: (body: Record<string, unknown>) => { status?: number; cache?: string; text?: string },
  delayMs = 5
) => {
  const sent: Sent[] = []
  let inFlight = 0
  let mostInFlight = 0
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>
    sent.push({ url: String(input), headers: init?.headers as Record<string, string>, body })
    inFlight += 1
    mostInFlight = Math.max(mostInFlight, inFlight)
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    inFlight -= 1
    const reply = answer(body)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (reply.cache !== undefined) {
      headers['x-gatehouse-cache'] = reply.cache
      headers['x-gatehouse-cache-key'] = 'f'.repeat(64)
    }
    return new Response(reply.text ?? '{}', { status: reply.status ?? 200, headers })
  }
  return { fetch, sent, mostInFlight: () => mostInFlight }
}

const line = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content }],
    ...extra,
  })

describe('warmCache', () => {
  it('keeps at most `concurrency` requests in flight, and answers in file order', async () => {
    const gateway = fakeGateway(() => ({ cache: 'miss' }))
    const text = Array.from({ length: 12 }, (_, index) => line(`q${index}`)).join('\n')
    const results = await warmCache({
      text,
      baseUrl: 'http://gateway.test',
      apiKey: 'gh-tenant-key',
      fetch: gateway.fetch,
      concurrency: 3,
    })
    expect(gateway.mostInFlight()).toBe(3)
    expect(results.map((result) => result.line)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1)
    )
    expect(results.every((result) => result.outcome === 'miss')).toBe(true)
    expect(gateway.sent[0]).toMatchObject({
      url: 'http://gateway.test/v1/chat/completions',
      headers: { authorization: 'Bearer gh-tenant-key', 'content-type': 'application/json' },
    })
  })

  it('reports each line: miss, hit, bypass (with or without the header), failed; blank lines skipped', async () => {
    const gateway = fakeGateway((body) => {
      const content = (body.messages as { content: string }[])[0].content
      if (content === 'hit') return { cache: 'hit' }
      if (content === 'bypass') return { cache: 'bypass' }
      if (content === 'off') return {}
      if (content === 'refused')
        return {
          status: 400,
          text: JSON.stringify({ error: { message: 'Invalid thing.', param: 'messages' } }),
        }
      return { cache: 'miss' }
    })
    const text = [
      '\uFEFF' + line('miss', { stream: true }),
      '',
      line('hit'),
      '{"model": ',
      line('bypass'),
      '   ',
      line('off'),
      line('refused'),
      '',
    ].join('\r\n')
    const results = await warmCache({
      text,
      baseUrl: 'http://gateway.test',
      apiKey: 'gh-tenant-key',
      fetch: gateway.fetch,
      concurrency: 2,
    })
    expect(results).toEqual([
      { line: 1, outcome: 'miss', status: 200, key: 'f'.repeat(64) },
      { line: 3, outcome: 'hit', status: 200, key: 'f'.repeat(64) },
      { line: 4, outcome: 'failed', reason: expect.stringMatching(/^not JSON/) },
      {
        line: 5,
        outcome: 'bypass',
        status: 200,
        key: 'f'.repeat(64),
        reason: 'not cacheable (its parameters or headers)',
      },
      {
        line: 7,
        outcome: 'bypass',
        status: 200,
        reason: 'the cache is off for its route, or does not hold this endpoint',
      },
      {
        line: 8,
        outcome: 'failed',
        status: 400,
        reason: 'Invalid thing. (HTTP 400, field messages)',
      },
    ])
    // Streaming is off on the wire.
    expect(gateway.sent.find((sent) => 'stream' in sent.body)).toBeUndefined()
    expect(gateway.sent).toHaveLength(5)
  })

  it('reports a gateway it cannot reach on each line, and sends nothing for an empty file', async () => {
    const fetch = (async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    }) as typeof globalThis.fetch
    const options = { baseUrl: 'http://127.0.0.1:9', apiKey: 'k', fetch, concurrency: 4 }
    expect(await warmCache({ ...options, text: line('a') })).toEqual([
      {
        line: 1,
        outcome: 'failed',
        reason: 'cannot reach the gateway at http://127.0.0.1:9: ECONNREFUSED (set GATEHOUSE_URL)',
      },
    ])
    expect(await warmCache({ ...options, text: '\n\n' })).toEqual([])
  })
})
