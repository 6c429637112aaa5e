import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { ProviderAdapter, UpstreamResponse } from '../../../providers/spec/provider-adapter.ts'
import { systemClock } from '../../core/clock.ts'
import type { ProviderEntry } from '../../core/provider-registry.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { proxyStoredResponse } from './proxy-stored-response.ts'

const encoder = new TextEncoder()

/** An upstream answer of `status` whose body comes in the given pieces. */
const answer = (status: number, contentType: string, pieces: string[]): UpstreamResponse => {
  const headers = new Headers({ 'content-type': contentType })
  return {
    status,
    headers: { get: (name: string) => headers.get(name), forEach: (fn) => headers.forEach(fn) },
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) controller.enqueue(encoder.encode(piece))
        controller.close()
      },
    }),
  } as UpstreamResponse
}

const providerAnswering = (upstream: () => UpstreamResponse): ProviderEntry =>
  ({
    config: {
      id: 'openai',
      timeouts: { connectMs: 1_000, firstByteMs: 1_000, totalMs: 5_000 },
    },
    adapter: { requestStored: async () => upstream() } as unknown as ProviderAdapter,
  }) as unknown as ProviderEntry

/** A route that proxies to `provider`, echoing `previous_response_id` as a chain the gateway expanded. */
const appFor = (provider: ProviderEntry) => {
  const app = new Hono<GatewayEnv>()
  app.get('/r', async (c) => {
    c.set('requestId', 'req_1')
    const { response } = await proxyStoredResponse({
      deps: { clock: systemClock, clientSignal: () => new AbortController().signal },
      c,
      provider,
      request: { operation: 'responses', method: 'GET', id: 'resp_up', query: [] },
      echo: { previous_response_id: 'resp_held' },
    })
    return response
  })
  return app
}

describe('proxyStoredResponse', () => {
  it('echoes the chain the gateway expanded in a whole answer and in a streamed replay, cut anywhere', async () => {
    const whole = await appFor(
      providerAnswering(() =>
        answer(200, 'application/json', ['{"id":"resp_up","previous_response_id"', ':null}'])
      )
    ).request('/r')
    expect(await whole.json()).toEqual({ id: 'resp_up', previous_response_id: 'resp_held' })

    const events = [
      'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_up","previous_response_id":null}}\n\n',
      'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_up","previous_response_id":null}}\n\n',
    ].join('')
    const streamed = await appFor(
      providerAnswering(() =>
        answer(200, 'text/event-stream', [
          events.slice(0, 70),
          events.slice(70, 150),
          events.slice(150),
        ])
      )
    ).request('/r')
    const text = await streamed.text()
    expect(text).toBe(
      events.replaceAll('"previous_response_id":null', '"previous_response_id":"resp_held"')
    )
  })

  it("leaves an upstream's error answer as it is", async () => {
    const failed = await appFor(
      providerAnswering(() =>
        answer(404, 'application/json', [
          '{"error":{"message":"gone","previous_response_id":null}}',
        ])
      )
    ).request('/r')
    // A non-2xx answer is the upstream's error, which the transport's adapter would have thrown; as given here, it
    // passes without the echo.
    expect(await failed.text()).toContain('"previous_response_id":null')
  })
})
