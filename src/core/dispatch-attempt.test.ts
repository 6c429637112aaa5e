import { describe, it, expect } from 'vitest'
import type { ChatChunk, ChatResult } from '../../providers/spec/chat-types.ts'
import type { AbortHandle, CallContext } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import {
  chatResult,
  executeCall,
  createFakeAdapter,
  createFakeDeps,
  forwardResponse,
  readAll,
  streamOf,
  type FakeAdapter,
  type FakeDepsOptions,
} from '../../test/helpers/fake-deps.ts'
import type { ChatCall } from './chat-call.ts'
import { createExecutor } from './execute.ts'

const setup = (adapters: FakeAdapter[], config: FakeDepsOptions['config'] = {}) => {
  const deps = createFakeDeps({ adapters, config })
  const executor = createExecutor(deps, { random: () => 0 })
  const start = deps.clock.now()
  return {
    clock: deps.clock,
    execute: (call: Partial<ChatCall>) => executeCall(executor, call),
    elapsed: () => deps.clock.now() - start,
  }
}

const start: ChatChunk = { type: 'start', id: 'msg_1', model: 'm', created: 0 }
const text = (delta: string): ChatChunk => ({ type: 'text-delta', choiceIndex: 0, delta })
const never = <T>(): Promise<T> => new Promise<T>(() => {})

const routeOf = (targets: string[], timeouts: Record<string, number> = {}) => ({
  routes: [
    { name: 'main', targets: targets.map((provider) => ({ provider, model: 'm' })), timeouts },
  ],
  retry: { maxRetries: 0 },
})

/** Cross-dialect streaming call (an Anthropic client, OpenAI-dialect fake targets). */
const streamCall: Partial<ChatCall> = { dialect: 'anthropic', model: 'main', stream: true }

describe('first byte', () => {
  it('waits for the first chunk of a stream before resolving, so a stall before it falls back', async () => {
    const stalled = streamOf<ChatChunk>([], { hold: true })
    let signal: AbortHandle | undefined
    const a = createFakeAdapter({
      id: 'a',
      streamChat: async (_request, context) => {
        signal = context.signal
        return stalled
      },
    })
    const b = createFakeAdapter({ id: 'b', streamChat: async () => streamOf([start, text('hi')]) })
    const { clock, execute, elapsed } = setup([a, b], routeOf(['a', 'b'], { firstByteMs: 20_000 }))
    const outcome = await clock.settle(execute(streamCall))
    expect(elapsed()).toBe(20_000)
    expect(signal?.aborted).toBe(true)
    expect(stalled.cancelled()).toBe(true)
    expect(outcome.servedBy).toMatchObject({ provider: 'b', attempts: 2, firstByteAt: clock.now() })
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    expect(await readAll(outcome.reader)).toEqual([start, text('hi')])
  })

  it('applies firstByteMs to response headers, even when the adapter ignores its signal', async () => {
    const a = createFakeAdapter({ id: 'a', forward: () => never() })
    const b = createFakeAdapter({ id: 'b', forward: async () => forwardResponse(['{}']) })
    const { clock, execute, elapsed } = setup([a, b], routeOf(['a', 'b'], { firstByteMs: 5_000 }))
    const outcome = await clock.settle(execute({ model: 'main' }))
    expect([outcome.servedBy.provider, elapsed()]).toEqual(['b', 5_000])
  })

  it('waits on an adapter that settles on abort without a race of its own, and still fails the attempt with the timeout', async () => {
    // Rejects only when its signal fires, with an error of its own: what the Node transport does.
    const onAbort = (signal: AbortHandle, fail: (error: Error) => void) =>
      signal.addEventListener('abort', () => fail(new Error('the transport gave up')))
    const headersLate = createFakeAdapter({
      id: 'a',
      forward: (_request, context) =>
        new Promise((_resolve, reject) => onAbort(context.signal, reject)),
    })
    const bodyLate = createFakeAdapter({
      id: 'b',
      forward: async (_request, context) => ({
        status: 200,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: new ReadableStream<Uint8Array>({
          start: (controller) => onAbort(context.signal, (error) => controller.error(error)),
        }),
      }),
    })
    const c = createFakeAdapter({ id: 'c', forward: async () => forwardResponse(['{}']) })
    for (const adapter of [headersLate, bodyLate])
      (adapter as { settlesOnAbort?: boolean }).settlesOnAbort = true
    const { clock, execute, elapsed } = setup(
      [headersLate, bodyLate, c],
      routeOf(['a', 'b', 'c'], { firstByteMs: 5_000 })
    )
    // Each failed with the scope's 504, a provider's failure that falls back, not with the adapter's own error
    // (the gateway's, a 500 that would stop here).
    const outcome = await clock.settle(execute({ model: 'main' }))
    expect([outcome.servedBy.provider, outcome.servedBy.attempts, elapsed()]).toEqual([
      'c',
      3,
      10_000,
    ])
  })

  it('gates a streamed forward on its first body chunk, and replays it', async () => {
    const a = createFakeAdapter({
      id: 'a',
      forward: async () => forwardResponse([], { hold: true }),
    })
    const b = createFakeAdapter({
      id: 'b',
      forward: async () => forwardResponse(['data: {"n":1}\n\n', 'data: {"n":2}\n\n']),
    })
    const { clock, execute } = setup([a, b], routeOf(['a', 'b'], { firstByteMs: 1_000 }))
    const outcome = await clock.settle(execute({ model: 'main', stream: true }))
    if (outcome.kind !== 'forward') throw new Error(outcome.kind)
    const chunks = await readAll(outcome.reader)
    expect(chunks.map((chunk) => new TextDecoder().decode(chunk))).toEqual([
      'data: {"n":1}\n\n',
      'data: {"n":2}\n\n',
    ])
    expect(outcome.status).toBe(200)
  })

  it("takes a 2xx answer that is not what the API sends for the upstream's fault: the next target serves", async () => {
    const html = createFakeAdapter({
      id: 'a',
      forward: async () => forwardResponse(['<html><body>Bad gateway</body></html>']),
    })
    const good = createFakeAdapter({
      id: 'b',
      forward: async () => forwardResponse(['{"id":"chatcmpl-1"}']),
    })
    const { clock, execute } = setup([html, good], routeOf(['a', 'b']))
    const outcome = await clock.settle(execute({ model: 'main' }))
    if (outcome.kind !== 'forward-complete') throw new Error(outcome.kind)
    expect(outcome.servedBy).toMatchObject({ provider: 'b', attempts: 2 })
    expect(new TextDecoder().decode(outcome.body)).toBe('{"id":"chatcmpl-1"}')
  })

  it('answers 502 when the only target streams something that is not an event stream of JSON', async () => {
    for (const chunks of [['<html>oops</html>'], ['data: <html>this is not JSON</html>\n\n'], []]) {
      const bad = createFakeAdapter({ id: 'a', forward: async () => forwardResponse(chunks) })
      const { clock, execute } = setup([bad], routeOf(['a']))
      await expect(
        clock.settle(execute({ model: 'main', stream: true })),
        JSON.stringify(chunks)
      ).rejects.toMatchObject({
        status: 502,
        headers: { 'x-gatehouse-attempts': '1' },
      })
      expect(clock.pendingTimers()).toBe(0)
    }
  })

  it('answers 504 when no target sends a first byte in time', async () => {
    const a = createFakeAdapter({ id: 'a', chat: () => never<ChatResult>() })
    const b = createFakeAdapter({ id: 'b', chat: () => never<ChatResult>() })
    const { clock, execute } = setup([a, b], routeOf(['a', 'b'], { firstByteMs: 1_000 }))
    await expect(
      clock.settle(execute({ dialect: 'anthropic', model: 'main' }))
    ).rejects.toMatchObject({
      status: 504,
      code: 'timeout',
      headers: { 'x-gatehouse-attempts': '2' },
    })
    expect(clock.pendingTimers()).toBe(0)
  })
})

describe('after the first byte', () => {
  it('errors a stream that goes idle with a 504 timeout, and cancels the upstream', async () => {
    const upstream = streamOf([start], { hold: true })
    const a = createFakeAdapter({ id: 'a', streamChat: async () => upstream })
    const { clock, execute } = setup([a], routeOf(['a'], { idleMs: 15_000 }))
    const outcome = await clock.settle(execute(streamCall))
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    const reader = outcome.reader
    expect(await reader.read()).toEqual({ done: false, value: start })
    const next = reader.read()
    await expect(clock.settle(next)).rejects.toMatchObject({
      kind: 'timeout',
      status: 504,
      providerId: 'a',
    })
    expect(clock.now() - outcome.servedBy.firstByteAt).toBe(15_000)
    expect(upstream.cancelled()).toBe(true)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('reads a non-streamed forward body inside the attempt, so one that stalls falls back to the next target', async () => {
    const stalled = createFakeAdapter({
      id: 'a',
      forward: async () => forwardResponse(['{"partial":'], { hold: true }),
    })
    const healthy = createFakeAdapter({
      id: 'b',
      forward: async () => forwardResponse(['{"id":"chatcmpl-1"}']),
    })
    const { clock, execute, elapsed } = setup(
      [stalled, healthy],
      routeOf(['a', 'b'], { firstByteMs: 2_000 })
    )
    const outcome = await clock.settle(execute({ model: 'main' }))
    if (outcome.kind !== 'forward-complete') throw new Error(outcome.kind)
    expect(outcome.servedBy).toMatchObject({ provider: 'b', attempts: 2 })
    expect(new TextDecoder().decode(outcome.body)).toBe('{"id":"chatcmpl-1"}')
    expect(elapsed()).toBe(2_000)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('ends a stream at the total deadline, counted from the start of the call', async () => {
    let chunks = 0
    const ticking = new ReadableStream<ChatChunk>({
      async pull(controller) {
        chunks += 1
        controller.enqueue(text(String(chunks)))
      },
    })
    const a = createFakeAdapter({ id: 'a', streamChat: async () => ticking })
    const { clock, execute, elapsed } = setup([a], routeOf(['a'], { totalMs: 60_000 }))
    const outcome = await clock.settle(execute(streamCall))
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    const reader = outcome.reader
    await reader.read()
    await clock.advance(59_999)
    await reader.read()
    await clock.advance(1)
    await expect(reader.read()).rejects.toMatchObject({ kind: 'timeout', status: 504 })
    expect(elapsed()).toBe(60_000)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('releases every timer once a stream ends', async () => {
    const a = createFakeAdapter({
      id: 'a',
      streamChat: async () => streamOf([start, text('a'), text('b')]),
    })
    const { clock, execute } = setup([a], routeOf(['a']))
    const outcome = await clock.settle(execute(streamCall))
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    expect(clock.pendingTimers()).toBeGreaterThan(0)
    await readAll(outcome.reader)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('releases every timer once a non-streamed result is returned', async () => {
    const a = createFakeAdapter({ id: 'a', chat: async () => chatResult('ok') })
    const { clock, execute } = setup([a], routeOf(['a']))
    await clock.settle(execute({ dialect: 'anthropic', model: 'main' }))
    expect(clock.pendingTimers()).toBe(0)
  })
})

describe('total deadline and client abort', () => {
  it('stops at the total deadline without trying further targets', async () => {
    const a = createFakeAdapter({ id: 'a', chat: () => never<ChatResult>() })
    const b = createFakeAdapter({ id: 'b', chat: async () => chatResult('too late') })
    const { clock, execute, elapsed } = setup([a, b], routeOf(['a', 'b'], { totalMs: 10_000 }))
    await expect(
      clock.settle(execute({ dialect: 'anthropic', model: 'main' }))
    ).rejects.toMatchObject({ status: 504 })
    expect(elapsed()).toBe(10_000)
    expect(b.calls).toHaveLength(0)
  })

  it("passes the client's abort to the adapter's signal and answers 499", async () => {
    const client = new AbortController()
    let context: CallContext | undefined
    const a = createFakeAdapter({
      id: 'a',
      chat: (_request, received) => {
        context = received
        return never<ChatResult>()
      },
    })
    const b = createFakeAdapter({ id: 'b', chat: async () => chatResult('unused') })
    const { clock, execute } = setup([a, b], routeOf(['a', 'b']))
    const pending = execute({ dialect: 'anthropic', model: 'main', signal: client.signal })
    pending.catch(() => {})
    await clock.advance(100)
    expect(context?.signal.aborted).toBe(false)
    client.abort()
    await expect(pending).rejects.toMatchObject({ status: 499 })
    expect(context?.signal.aborted).toBe(true)
    expect(context?.signal.reason).toMatchObject({ kind: 'aborted' })
    expect(b.calls).toHaveLength(0)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('aborts the upstream when the client leaves mid-stream', async () => {
    const client = new AbortController()
    let signal: AbortHandle | undefined
    const upstream = streamOf([start], { hold: true })
    const a = createFakeAdapter({
      id: 'a',
      streamChat: async (_request, context) => {
        signal = context.signal
        return upstream
      },
    })
    const { clock, execute } = setup([a], routeOf(['a']))
    const outcome = await clock.settle(execute({ ...streamCall, signal: client.signal }))
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    const reader = outcome.reader
    await reader.read()
    const next = reader.read()
    next.catch(() => {})
    client.abort()
    await expect(next).rejects.toMatchObject({ kind: 'aborted', status: 499 })
    expect(signal?.aborted).toBe(true)
    expect(upstream.cancelled()).toBe(true)
  })

  it('makes no attempt for a client that is already gone', async () => {
    const client = new AbortController()
    client.abort()
    const a = createFakeAdapter({ id: 'a', chat: async () => chatResult('unused') })
    const { clock, execute } = setup([a], routeOf(['a']))
    await expect(
      clock.settle(execute({ dialect: 'anthropic', model: 'main', signal: client.signal }))
    ).rejects.toMatchObject({
      status: 499,
    })
    expect(a.calls).toHaveLength(0)
  })

  it('retries a first-byte timeout like any transient failure', async () => {
    let calls = 0
    const a = createFakeAdapter({
      id: 'a',
      chat: () => (++calls < 2 ? never<ChatResult>() : Promise.resolve(chatResult('second try'))),
    })
    const { clock, execute } = setup([a], {
      routes: [
        {
          name: 'main',
          targets: [{ provider: 'a', model: 'm' }],
          timeouts: { firstByteMs: 3_000 },
        },
      ],
    })
    const outcome = await clock.settle(execute({ dialect: 'anthropic', model: 'main' }))
    expect(outcome.servedBy.attempts).toBe(2)
  })

  it('keeps a mid-stream upstream error for the encoder', async () => {
    const failure = new ProviderError({
      kind: 'bad-response',
      status: 502,
      message: 'broken SSE',
      providerId: 'a',
    })
    let sent = false
    const a = createFakeAdapter({
      id: 'a',
      streamChat: async () =>
        new ReadableStream<ChatChunk>({
          pull(controller) {
            if (sent) controller.error(failure)
            else controller.enqueue(start)
            sent = true
          },
        }),
    })
    const { clock, execute } = setup([a], routeOf(['a']))
    const outcome = await clock.settle(execute(streamCall))
    if (outcome.kind !== 'stream') throw new Error(outcome.kind)
    await expect(readAll(outcome.reader)).rejects.toBe(failure)
  })
})
