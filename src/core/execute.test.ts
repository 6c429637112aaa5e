import { describe, it, expect } from 'vitest'
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../../providers/spec/embedding-types.ts'
import type { ForwardRequest } from '../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import {
  chatResult,
  createChatCall,
  executeCall,
  createFakeAdapter,
  createFakeDeps,
  forwardResponse,
  httpError,
  readAll,
  type FakeAdapter,
  type FakeDepsOptions,
} from '../../test/helpers/fake-deps.ts'
import { GatewayError, invalidRequest } from './errors.ts'
import type { ChatCall } from './chat-call.ts'
import { createExecutor } from './execute.ts'
import { fanOutObservers, type ExecutionEvent } from './execution-observer.ts'

const setup = (adapters: FakeAdapter[], config: FakeDepsOptions['config'] = {}) => {
  const deps = createFakeDeps({ adapters, config })
  const executor = createExecutor(deps, { random: () => 0 })
  const run = (call: Partial<ChatCall> = {}) => deps.clock.settle(executeCall(executor, call))
  const fail = (call: Partial<ChatCall> = {}) =>
    run(call).then(
      () => expect.fail('expected the call to fail'),
      (error: unknown) => error as GatewayError
    )
  return { deps, executor, run, fail, clock: deps.clock }
}

/** An OpenAI-dialect adapter answering `chat` (cross dialect for Anthropic clients) from a script. */
const scripted = (
  id: string,
  outcomes: (Error | string)[],
  dialect: 'openai' | 'anthropic' = 'openai'
): FakeAdapter => {
  let index = 0
  return createFakeAdapter({
    id,
    dialect,
    chat: async () => {
      const outcome = outcomes[Math.min(index++, outcomes.length - 1)]
      if (outcome instanceof Error) throw outcome
      return chatResult(outcome)
    },
  })
}

const route = (targets: string[], extra: Record<string, unknown> = {}) => ({
  routes: [
    {
      name: 'main',
      targets: targets.map((provider) => ({ provider, model: `${provider}-model` })),
      ...extra,
    },
  ],
})

const anthropicCall: Partial<ChatCall> = { dialect: 'anthropic', model: 'main' }

describe('executor: dispatch', () => {
  it('forwards a same-dialect call with only the model changed, and reports who served it', async () => {
    const openai = createFakeAdapter({
      id: 'openai',
      forward: async () => forwardResponse(['{"id":"chatcmpl-1"}']),
    })
    const { run, clock } = setup([openai], {
      routes: [{ name: 'fast', targets: [{ provider: 'openai', model: 'gpt-4o-mini' }] }],
    })
    const body = { model: 'fast', messages: [], logprobs: true }
    const outcome = await run({ model: 'fast', body, headers: { 'anthropic-beta': 'x' } })
    expect(openai.calls[0].request).toEqual({
      operation: 'chat-completions',
      body,
      model: 'gpt-4o-mini',
      headers: { 'anthropic-beta': 'x' },
    })
    expect(openai.calls[0].context.connectTimeoutMs).toBe(10_000)
    if (outcome.kind !== 'forward-complete') throw new Error(outcome.kind)
    expect(outcome.servedBy).toEqual({
      provider: 'openai',
      model: 'gpt-4o-mini',
      attempts: 1,
      firstByteAt: clock.now(),
    })
    expect(outcome.taps).toHaveLength(1)
    expect(new TextDecoder().decode(outcome.body)).toBe('{"id":"chatcmpl-1"}')
  })

  it("adds the adapter's answer tap beside its usage tap only for a call that wants the answer", async () => {
    const openai = createFakeAdapter({
      id: 'openai',
      forward: async () => forwardResponse(['{"id":"chatcmpl-1"}']),
    })
    const answers: string[] = []
    openai.createAnswerTap = () => ({
      write: (chunk) => void answers.push(new TextDecoder().decode(chunk)),
      finish: () => ({ usage: null, answer: null }),
    })
    const { run } = setup([openai])
    const plain = await run({ model: 'openai/gpt-4o-mini' })
    const assembled = await run({ model: 'openai/gpt-4o-mini', assemble: true })
    if (plain.kind !== 'forward-complete' || assembled.kind !== 'forward-complete')
      throw new Error('expected forwards')
    expect([plain.taps.length, assembled.taps.length]).toEqual([1, 2])
  })

  it('converts a same-dialect call for a model the adapter does not forward (forwardsModel)', async () => {
    const openai = createFakeAdapter({
      id: 'openai',
      forward: async () => forwardResponse(['{"id":"chatcmpl-1"}']),
      chat: async () => chatResult('from responses'),
    })
    const asked: string[] = []
    openai.forwardsModel = (operation, model) => {
      asked.push(`${operation} ${model}`)
      return model !== 'o3-pro'
    }
    const { run } = setup([openai])
    const converted = await run({ model: 'openai/o3-pro' })
    const forwarded = await run({ model: 'openai/gpt-4o-mini' })
    expect(openai.calls.map((call) => call.method)).toEqual(['chat', 'forward'])
    expect((openai.calls[0].request as ChatRequest).model).toBe('o3-pro')
    expect([converted.kind, forwarded.kind]).toEqual(['result', 'forward-complete'])
    expect(asked).toEqual(['chat-completions o3-pro', 'chat-completions gpt-4o-mini'])
  })

  it('converts a cross-dialect call once, with the target model, and injects max_tokens for Anthropic', async () => {
    const anthropic = scripted('anthropic', ['hello'], 'anthropic')
    const { run } = setup([anthropic], {
      routes: [{ name: 'main', targets: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }] }],
    })
    const outcome = await run({ model: 'main' })
    if (outcome.kind !== 'result') throw new Error(outcome.kind)
    expect(outcome.result.choices[0].content).toEqual([{ type: 'text', text: 'hello' }])
    const request = anthropic.calls[0].request as ChatRequest
    expect(request.model).toBe('claude-sonnet-4-5')
    expect(request.maxTokens).toBe(64_000)
    expect(outcome.servedBy.defaultedMaxTokens).toBe(64_000)
  })

  it('takes max_tokens from config first, 4096 for unknown models, and never overrides the client', async () => {
    const maxTokensFor = async (
      model: string,
      config: FakeDepsOptions['config'],
      sent?: number
    ) => {
      const anthropic = scripted('anthropic', ['ok'], 'anthropic')
      const { run } = setup([anthropic], config)
      const base = createChatCall({ model: `anthropic/${model}` })
      const outcome = await run({
        model: `anthropic/${model}`,
        toCanonical: () => ({
          ...base.toCanonical(),
          ...(sent === undefined ? {} : { maxTokens: sent }),
        }),
      })
      return [
        (anthropic.calls[0].request as ChatRequest).maxTokens,
        outcome.servedBy.defaultedMaxTokens,
      ]
    }
    expect(
      await maxTokensFor('claude-sonnet-4-5', {
        models: { 'claude-sonnet-4-5': { maxOutputTokens: 1_000 } },
      })
    ).toEqual([1_000, 1_000])
    expect(await maxTokensFor('claude-next', {})).toEqual([4_096, 4_096])
    expect(await maxTokensFor('claude-sonnet-4-5', {}, 50)).toEqual([50, undefined])
  })

  it('does not inject max_tokens for OpenAI-dialect targets', async () => {
    const openai = scripted('openai', ['ok'])
    const { run } = setup([openai])
    const outcome = await run({ dialect: 'anthropic', model: 'openai/gpt-4o' })
    expect((openai.calls[0].request as ChatRequest).maxTokens).toBeUndefined()
    expect(outcome.servedBy.defaultedMaxTokens).toBeUndefined()
  })

  it('lets a conversion 400 through once, before any attempt', async () => {
    const a = scripted('a', ['ok'])
    const b = scripted('b', ['ok'])
    const { fail } = setup([a, b], route(['a', 'b']))
    let conversions = 0
    const error = await fail({
      ...anthropicCall,
      toCanonical: () => {
        conversions += 1
        throw invalidRequest('n > 1 is not supported', 'n')
      },
    })
    expect(error).toMatchObject({ status: 400, param: 'n' })
    expect(conversions).toBe(1)
    expect(a.calls.length + b.calls.length).toBe(0)
  })

  it('estimates count_tokens locally when the target cannot count, and forwards it to Anthropic', async () => {
    const openai = scripted('openai', ['unused'])
    const local = setup([openai])
    const estimated = await local.run({
      dialect: 'anthropic',
      operation: 'count-tokens',
      model: 'gpt-4o',
    })
    expect(estimated).toMatchObject({
      kind: 'count',
      estimated: true,
      servedBy: { provider: 'openai', attempts: 0 },
    })
    expect(estimated.kind === 'count' && estimated.inputTokens).toBeGreaterThan(0)
    expect(openai.calls).toHaveLength(0)

    const anthropic = createFakeAdapter({
      id: 'anthropic',
      dialect: 'anthropic',
      forward: async () => forwardResponse(['{"input_tokens":12}']),
    })
    const upstream = setup([anthropic])
    const forwarded = await upstream.run({
      dialect: 'anthropic',
      operation: 'count-tokens',
      model: 'claude-sonnet-4-5',
    })
    expect(forwarded.kind).toBe('forward-complete')
    expect((anthropic.calls[0].request as ForwardRequest).operation).toBe('count-tokens')
  })

  it('sends embeddings only to OpenAI-dialect targets, and answers 400 naming an Anthropic one', async () => {
    const anthropic = createFakeAdapter({
      id: 'anthropic',
      dialect: 'anthropic',
      forward: async () => forwardResponse(['{}']),
    })
    const openai = createFakeAdapter({
      id: 'openai',
      forward: async () => forwardResponse(['{"data":[]}']),
    })
    const only = setup([anthropic, openai])
    const error = await only.fail({ operation: 'embeddings', model: 'anthropic/voyage-3' })
    expect(error).toMatchObject({ status: 400, param: 'model' })
    expect(error.message).toContain('"anthropic"')
    expect(anthropic.calls).toHaveLength(0)

    const mixed = setup([anthropic, openai], route(['anthropic', 'openai']))
    const outcome = await mixed.run({ operation: 'embeddings', model: 'main' })
    expect(outcome.servedBy.provider).toBe('openai')
  })

  it("embeds through the adapter's embed where a target has no embeddings to forward, with the target's model", async () => {
    const local = createFakeAdapter({ id: 'local', dialect: 'none' })
    const asked: EmbedRequest[] = []
    const result: EmbedResult = {
      model: 'tiny-embed',
      embeddings: [new Float32Array([0.6, 0.8])],
      usage: {
        inputTokens: 2,
        outputTokens: 0,
        cachedInputTokens: 0,
        cacheWriteInputTokens: 0,
        reasoningTokens: 0,
      },
    }
    local.embed = async (request) => {
      asked.push(request)
      return result
    }
    const { run } = setup([local], {
      routes: [{ name: 'vectors', targets: [{ provider: 'local', model: 'tiny-embed' }] }],
    })
    const outcome = await run({
      operation: 'embeddings',
      model: 'vectors',
      toEmbedRequest: () => ({ model: 'vectors', inputs: ['hi'], dimensions: 2 }),
    })
    expect(asked).toEqual([{ model: 'tiny-embed', inputs: ['hi'], dimensions: 2 }])
    expect(outcome).toMatchObject({
      kind: 'embeddings',
      result,
      servedBy: { provider: 'local', model: 'tiny-embed', attempts: 1 },
    })
  })

  it('leaves out the targets an adapter refuses (cannotServe), so a fallback never ends in its 400', async () => {
    const openai = scripted('openai', [httpError(503)])
    const local = createFakeAdapter({ id: 'local', dialect: 'none' })
    local.cannotServe = (operation, model) =>
      operation !== 'embeddings' && model === 'tiny-embed'
        ? '`local/tiny-embed` is an embedding model.'
        : null
    const config = {
      routes: [
        {
          name: 'main',
          targets: [
            { provider: 'openai', model: 'gpt-4o-mini' },
            { provider: 'local', model: 'tiny-embed' },
          ],
        },
      ],
    }
    const { fail } = setup([openai, local], config)
    // The route's last target is refused: the client sees the failure of the one tried, not a 400 about the other.
    const error = await fail({ model: 'main' })
    expect(error.status).toBe(502)
    expect(local.calls).toHaveLength(0)
    // A model name that leads only to refused targets is a 400 in the adapter's words.
    const direct = await fail({ model: 'local/tiny-embed' })
    expect(direct).toMatchObject({ status: 400, param: 'model' })
    expect(direct.message).toBe('`local/tiny-embed` is an embedding model.')
  })
})

describe('executor: retry and fallback', () => {
  it('retries a target on 5xx, and tells its observers of each attempt and retry without bodies', async () => {
    const a = scripted('a', [
      httpError(500, { detail: 'secret body' }),
      httpError(503),
      'third time',
    ])
    const { run, deps } = setup([a], route(['a']))
    const outcome = await run(anthropicCall)
    expect(outcome.servedBy.attempts).toBe(3)
    const events = deps.observer.events.map((event) => {
      if (event.type === 'attempt-ended')
        return [event.type, event.attempt, event.outcome, event.status, event.errorKind]
      if (event.type === 'retry') return [event.type, event.attempt]
      return [event.type, 'attempt' in event ? event.attempt : null]
    })
    expect(events).toEqual([
      ['attempt-started', 1],
      ['attempt-ended', 1, 'failure', 500, 'http'],
      ['retry', 2],
      ['attempt-started', 2],
      ['attempt-ended', 2, 'failure', 503, 'http'],
      ['retry', 3],
      ['attempt-started', 3],
      ['attempt-ended', 3, 'success', 200, null],
    ])
    expect(deps.observer.events[0]).toMatchObject({
      requestId: 'req_test',
      operation: 'messages',
      provider: 'a',
      model: 'a-model',
    })
    expect(JSON.stringify(deps.observer.events)).not.toContain('secret body')
  })

  it('makes no start or success events for observers that ignore them, and the failures all the same', async () => {
    const a = scripted('a', [httpError(503), 'second time'])
    const deps = createFakeDeps({ adapters: [a], config: route(['a']) })
    const seen: ExecutionEvent[] = []
    const quiet = fanOutObservers([
      { ignoresSuccessfulAttempts: true, observe: (event) => void seen.push(event) },
      { ignoresSuccessfulAttempts: true, observe: () => {} },
    ])
    expect(quiet.ignoresSuccessfulAttempts).toBe(true)
    const executor = createExecutor({ ...deps, observer: quiet }, { random: () => 0 })
    const outcome = await deps.clock.settle(executeCall(executor, anthropicCall))
    expect(outcome.servedBy.attempts).toBe(2)
    expect(seen.map((event) => [event.type, 'outcome' in event ? event.outcome : null])).toEqual([
      ['attempt-ended', 'failure'],
      ['retry', null],
    ])
    // One observer that wants them all gets them all.
    const loud = fanOutObservers([
      { ignoresSuccessfulAttempts: true, observe: () => {} },
      deps.observer,
    ])
    expect(loud.ignoresSuccessfulAttempts).toBe(false)
  })

  it('tells its observers when it falls back, and why', async () => {
    const a = scripted('a', [httpError(503)])
    const b = scripted('b', ['from b'])
    const { run, deps } = setup([a, b], route(['a', 'b']))
    await run(anthropicCall)
    expect(deps.observer.events.filter((event) => event.type === 'fallback')).toEqual([
      {
        type: 'fallback',
        requestId: 'req_test',
        operation: 'messages',
        from: { provider: 'a', model: 'a-model' },
        to: { provider: 'b', model: 'b-model' },
        reason: 'failed',
      },
    ])
  })

  it('answers a failure of its own (not a ProviderError) as a 500 of its own: no retry, no fallback, no breaker count', async () => {
    const broken = createFakeAdapter({
      id: 'a',
      chat: async () => {
        throw new RangeError('Maximum call stack size exceeded')
      },
    })
    const b = scripted('b', ['from b'])
    const { fail, deps, executor } = setup([broken, b], {
      ...route(['a', 'b']),
      circuitBreaker: { minFailures: 1, failureRatio: 0.1 },
    })
    const error = await fail(anthropicCall)
    expect(error).toBeInstanceOf(RangeError)
    expect(broken.calls).toHaveLength(1)
    expect(b.calls).toHaveLength(0)
    expect(executor.circuitBreaker.snapshot().filter((entry) => entry.state !== 'closed')).toEqual(
      []
    )
    expect(deps.observer.events.find((event) => event.type === 'attempt-ended')).toMatchObject({
      outcome: 'failure',
      status: 500,
      errorKind: 'internal',
    })
  })

  it('falls back to the next target once retries are spent', async () => {
    const a = scripted('a', [httpError(503)])
    const b = scripted('b', ['from b'])
    const { run } = setup([a, b], route(['a', 'b']))
    const outcome = await run(anthropicCall)
    expect(a.calls).toHaveLength(3)
    expect(outcome.servedBy).toMatchObject({ provider: 'b', model: 'b-model', attempts: 4 })
  })

  it("falls back at once on an upstream 401/403 (the gateway's key), a quota 429 and a fallbackOn status", async () => {
    const errors = [
      httpError(401),
      httpError(403),
      httpError(429, { type: 'insufficient_quota' }),
      httpError(400, { type: 'billing_error' }),
    ]
    for (const error of errors) {
      const a = scripted('a', [error])
      const b = scripted('b', ['ok'])
      const outcome = await setup([a, b], route(['a', 'b'])).run(anthropicCall)
      expect([a.calls.length, outcome.servedBy.provider]).toEqual([1, 'b'])
    }
    const a = scripted('a', [httpError(429)])
    const b = scripted('b', ['ok'])
    const outcome = await setup([a, b], route(['a', 'b'], { fallbackOn: [429] })).run(anthropicCall)
    expect([a.calls.length, outcome.servedBy.provider]).toEqual([1, 'b'])
  })

  it('falls back at once when Retry-After is beyond the deadline', async () => {
    const a = scripted('a', [httpError(429, { retryAfterMs: 3_600_000 })])
    const b = scripted('b', ['ok'])
    const { run, clock } = setup([a, b], route(['a', 'b']))
    const started = clock.now()
    const outcome = await run(anthropicCall)
    expect([a.calls.length, outcome.servedBy.provider, clock.now() - started]).toEqual([1, 'b', 0])
  })

  it("returns a client error at once, with the upstream's message and code, without fallback", async () => {
    const a = scripted('a', [
      httpError(400, {
        message: 'maximum context length is 8192 tokens',
        code: 'context_length_exceeded',
        param: 'messages',
      }),
    ])
    const b = scripted('b', ['ok'])
    const error = await setup([a, b], route(['a', 'b'])).fail(anthropicCall)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({
      status: 400,
      message: 'maximum context length is 8192 tokens',
      openaiCode: 'context_length_exceeded',
      param: 'messages',
      headers: { 'x-should-retry': 'false', 'x-gatehouse-attempts': '1' },
    })
    expect(b.calls).toHaveLength(0)
  })

  it('answers 502 naming the provider when every target fails, with the attempts made', async () => {
    const a = scripted('a', [httpError(500)])
    const b = scripted('b', [
      new ProviderError({ kind: 'connection', status: 502, message: 'ECONNREFUSED' }),
    ])
    const error = await setup([a, b], route(['a', 'b'])).fail(anthropicCall)
    expect(error).toMatchObject({
      status: 502,
      code: 'upstream',
      headers: { 'x-gatehouse-attempts': '6', 'x-should-retry': 'false' },
    })
    expect(error.message).toContain('"b"')
  })

  it('answers 429 with retry-after when rate limits outlast the retries', async () => {
    const a = scripted('a', [httpError(429, { retryAfterMs: 1_000 })])
    const error = await setup([a], route(['a'])).fail(anthropicCall)
    expect(error).toMatchObject({
      status: 429,
      headers: { 'retry-after': '1', 'x-gatehouse-attempts': '3' },
    })
  })
})

describe('executor: circuit breaker', () => {
  const breakerConfig = (targets: string[], maxRetries = 0) => ({
    ...route(targets),
    retry: { maxRetries },
    circuitBreaker: { minFailures: 2, failureRatio: 0.5, openMs: 30_000 },
  })

  it('stops sending to a target whose breaker opened: no attempt is spent on it', async () => {
    const a = scripted('a', [httpError(500)])
    const b = scripted('b', ['ok'])
    const { run, executor } = setup([a, b], breakerConfig(['a', 'b']))
    await run(anthropicCall)
    await run(anthropicCall)
    expect(executor.circuitBreaker.snapshot().find((entry) => entry.provider === 'a')?.state).toBe(
      'open'
    )
    const outcome = await run(anthropicCall)
    expect(a.calls).toHaveLength(2)
    expect(outcome.servedBy).toMatchObject({ provider: 'b', attempts: 1 })
  })

  it('counts a stream that breaks after its first byte against its target, but not a client that leaves', async () => {
    const breaking = (): ReadableStream<Uint8Array> => {
      let sent = false
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent)
            controller.error(
              new ProviderError({
                kind: 'connection',
                status: 502,
                message: 'The upstream closed the connection.',
              })
            )
          else controller.enqueue(new TextEncoder().encode('data: {}\n\n'))
          sent = true
        },
      })
    }
    let calls = 0
    const a = createFakeAdapter({
      id: 'a',
      forward: async () =>
        (calls += 1) === 1
          ? forwardResponse(['data: {}\n\n'], { hold: true })
          : {
              status: 200,
              headers: new Headers({ 'content-type': 'text/event-stream' }),
              body: breaking(),
            },
    })
    const { run, executor } = setup([a], breakerConfig(['a']))
    const breaker = () => executor.circuitBreaker.snapshot().find((entry) => entry.provider === 'a')
    const left = await run({ model: 'main', stream: true })
    if (left.kind !== 'forward') throw new Error(left.kind)
    await left.reader.read()
    await left.reader.cancel('client went away')
    expect(breaker()).toMatchObject({ state: 'closed', failures: 0 })
    for (let index = 0; index < 2; index += 1) {
      const outcome = await run({ model: 'main', stream: true })
      if (outcome.kind !== 'forward') throw new Error(outcome.kind)
      await expect(readAll(outcome.reader)).rejects.toMatchObject({ kind: 'connection' })
    }
    expect(breaker()).toMatchObject({ state: 'open', failures: 2 })
  })

  it('probes the target again after openMs and closes on success', async () => {
    let healthy = false
    const a = createFakeAdapter({
      id: 'a',
      chat: async () => (healthy ? chatResult('a is back') : Promise.reject(httpError(500))),
    })
    const b = scripted('b', ['ok'])
    const { run, clock, executor } = setup([a, b], breakerConfig(['a', 'b']))
    await run(anthropicCall)
    await run(anthropicCall)
    healthy = true
    await clock.advance(30_000)
    expect((await run(anthropicCall)).servedBy.provider).toBe('a')
    expect(executor.circuitBreaker.snapshot().find((entry) => entry.provider === 'a')?.state).toBe(
      'closed'
    )
  })

  it('when every breaker is open, tries the one that opened longest ago, once', async () => {
    const a = scripted('a', [httpError(500)])
    const b = scripted('b', [httpError(500)])
    const { run, fail, clock } = setup([a, b], breakerConfig(['b', 'a'], 2))
    await fail({ ...anthropicCall, model: 'a/a-model' })
    await clock.advance(1_000)
    await fail({ ...anthropicCall, model: 'b/b-model' })
    a.calls.length = 0
    b.calls.length = 0
    const error = await run(anthropicCall).catch((caught: GatewayError) => caught)
    expect([a.calls.length, b.calls.length]).toEqual([1, 0])
    expect(error).toMatchObject({ status: 502, headers: { 'x-gatehouse-attempts': '1' } })
  })

  it('keeps a 429 target out of rotation for its retry-after, without opening the breaker', async () => {
    const a = scripted('a', [httpError(429, { retryAfterMs: 10_000 }), 'a again'])
    const b = scripted('b', ['ok'])
    const { run, clock } = setup([a, b], { ...route(['a', 'b']), retry: { maxRetries: 0 } })
    expect((await run(anthropicCall)).servedBy.provider).toBe('b')
    expect((await run(anthropicCall)).servedBy.provider).toBe('b')
    expect(a.calls).toHaveLength(1)
    await clock.advance(10_000)
    expect((await run(anthropicCall)).servedBy.provider).toBe('a')
  })
})

describe('executor: a call cut while its upstream had it', () => {
  const timedOut = (unsent = false) =>
    new ProviderError({ kind: 'timeout', status: 504, message: 'no answer in time', unsent })

  it('names the attempt a timeout cut, whose provider may bill what it processed', async () => {
    const { fail } = setup([scripted('a', [timedOut()])], route(['a']))
    const error = await fail(anthropicCall)
    expect(error.status).toBe(504)
    expect(error.cutAttempt).toEqual({ provider: 'a', model: 'a-model' })
  })

  it('names none for a request that never reached the upstream (a connect timeout)', async () => {
    const { fail } = setup([scripted('a', [timedOut(true)])], route(['a']))
    const error = await fail(anthropicCall)
    expect(error.status).toBe(504)
    expect(error.cutAttempt).toBeNull()
  })

  it('names none when the call ends in an answered error, and the last cut target when it ends cut', async () => {
    const answeredLast = setup(
      [scripted('a', [timedOut()]), scripted('b', [httpError(500)])],
      route(['a', 'b'])
    )
    const answered = await answeredLast.fail(anthropicCall)
    expect(answered.status).toBe(502)
    expect(answered.cutAttempt).toBeNull()

    const cutLast = setup(
      [scripted('a', [httpError(500)]), scripted('b', [timedOut()])],
      route(['a', 'b'])
    )
    const cut = await cutLast.fail(anthropicCall)
    expect(cut.status).toBe(504)
    expect(cut.cutAttempt).toEqual({ provider: 'b', model: 'b-model' })

    // A cut attempt, then a last one that never reached its upstream: the call costs nothing.
    const unsentLast = setup(
      [scripted('a', [timedOut()]), scripted('b', [timedOut(true)])],
      route(['a', 'b'])
    )
    const unsent = await unsentLast.fail(anthropicCall)
    expect(unsent.status).toBe(504)
    expect(unsent.cutAttempt).toBeNull()
  })
})
