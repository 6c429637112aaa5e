/**
 * What the gateway must do the same on every runtime, as one list that both runtime suites run: Node
 * (test/integration/node-scenarios.test.ts, `startNodeServer`) and Cloudflare Workers (test/workers/workers.test.ts,
 * `wrangler dev`). Each scenario is plain HTTP against the gateway's URL through the official clients or `fetch`,
 * with the mock upstreams behind it; nothing here knows which runtime answers. A behaviour only one runtime can show
 * (the Workers bundle, a dropped connection seen through Miniflare) stays in that runtime's suite.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { expect } from 'vitest'
import { MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import { estimateTokens } from '../helpers/mock-upstream-server.ts'
import type { GatewayScenario, ScenarioGateway } from './scenario-gateway.ts'
import { waitForLogLine } from './scenario-gateway.ts'

const openAIClient = (gateway: ScenarioGateway, apiKey = gateway.masterKey): OpenAI =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

const anthropicClient = (gateway: ScenarioGateway, apiKey = gateway.masterKey): Anthropic =>
  new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0 })

export const gatewayScenarios: readonly GatewayScenario[] = [
  {
    name: 'answers /healthz, and /readyz naming every configured provider',
    run: async (gateway) => {
      const health = await fetch(`${gateway.url}/healthz`)
      expect(health.status).toBe(200)
      expect(await health.json()).toEqual({ status: 'ok' })
      const ready = await fetch(`${gateway.url}/readyz`)
      expect(ready.status).toBe(200)
      const body = (await ready.json()) as { status: string; providers: string[] }
      expect(body.status).toBe('ready')
      expect([...body.providers].sort()).toEqual(['openai', 'slow'])
    },
  },
  {
    name: 'answers a chat completion through the official client, with the upstream usage, and logs its usage without a key',
    run: async (gateway) => {
      const { openai: upstream } = gateway.upstreams
      const request = {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user' as const, content: 'Hello from the scenarios' }],
      }
      const direct = new OpenAI({
        baseURL: upstream.baseUrl,
        apiKey: MOCK_OPENAI_API_KEY,
        maxRetries: 0,
      })
      const expected = await direct.chat.completions.create(request)
      const { data, response } = await openAIClient(gateway)
        .chat.completions.create(request)
        .withResponse()
      expect(response.status).toBe(200)
      expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
      expect(data.choices[0].message.content).toBe('echo: Hello from the scenarios')
      expect(data.choices[0].finish_reason).toBe('stop')
      expect(data.usage).toEqual(expected.usage)
      expect(data.usage?.completion_tokens).toBe(estimateTokens('echo: Hello from the scenarios'))
      const forwarded = upstream.requests.at(-1)
      expect(forwarded?.path).toBe('/v1/chat/completions')
      expect(forwarded?.body).toEqual(request)
      expect(forwarded?.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)

      // The usage event is written after the response (Workers: kept alive by waitUntil).
      const requestId = response.headers.get('x-request-id')
      const usage = await waitForLogLine(
        gateway.logLines,
        (line) => line.msg === 'usage' && line.requestId === requestId
      )
      expect(usage).toMatchObject({
        provider: 'openai',
        principalId: 'master',
        refused: false,
        usage: {
          inputTokens: expected.usage?.prompt_tokens,
          outputTokens: expected.usage?.completion_tokens,
        },
      })
      const logged = gateway
        .logLines()
        .map((line) => JSON.stringify(line))
        .join('\n')
      expect(logged).not.toContain(gateway.masterKey)
      expect(logged).not.toContain(MOCK_OPENAI_API_KEY)
    },
  },
  {
    name: 'streams a chat completion chunk by chunk, usage last',
    run: async (gateway) => {
      const { data: stream, response } = await openAIClient(gateway)
        .chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Stream this sentence back to me' }],
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse()
      expect(response.headers.get('content-type')).toContain('text/event-stream')
      expect(response.headers.get('x-gatehouse-provider')).toBe('openai')
      const pieces: string[] = []
      let usage: OpenAI.CompletionUsage | null | undefined
      let finishReason: string | null = null
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta.content
        if (delta) pieces.push(delta)
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason
        if (chunk.usage) usage = chunk.usage
      }
      expect(pieces.join('')).toBe('echo: Stream this sentence back to me')
      expect(pieces.length).toBeGreaterThan(1)
      expect(finishReason).toBe('stop')
      expect(usage?.completion_tokens).toBe(estimateTokens('echo: Stream this sentence back to me'))
      expect(usage?.prompt_tokens).toBeGreaterThan(0)
    },
  },
  {
    name: "converts an Anthropic client's messages for the OpenAI upstream, streamed and not",
    run: async (gateway) => {
      const { openai: upstream } = gateway.upstreams
      const client = anthropicClient(gateway)
      const message = await client.messages.create({
        model: 'openai/gpt-4o-mini',
        max_tokens: 64,
        system: 'be brief',
        messages: [{ role: 'user', content: 'hello from Anthropic' }],
      })
      expect(message).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn' })
      expect(message.content).toEqual([{ type: 'text', text: 'echo: hello from Anthropic' }])
      expect(message.usage.output_tokens).toBe(estimateTokens('echo: hello from Anthropic'))
      const forwarded = upstream.requests.at(-1)
      expect(forwarded?.path).toBe('/v1/chat/completions')
      expect(forwarded?.body).toMatchObject({
        model: 'gpt-4o-mini',
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user' }],
      })

      const streamed = await client.messages
        .stream({
          model: 'openai/gpt-4o-mini',
          max_tokens: 64,
          messages: [{ role: 'user', content: 'stream from Anthropic' }],
        })
        .finalMessage()
      expect(streamed.content).toEqual([{ type: 'text', text: 'echo: stream from Anthropic' }])
      expect(streamed.stop_reason).toBe('end_turn')
      expect(streamed.usage.output_tokens).toBe(estimateTokens('echo: stream from Anthropic'))
    },
  },
  {
    name: 'stops the upstream stream when the client goes away mid-stream',
    run: async (gateway) => {
      const { slow } = gateway.upstreams
      const controller = new AbortController()
      const { data: stream, response } = await openAIClient(gateway)
        .chat.completions.create(
          {
            model: 'slow/slow-model',
            messages: [
              {
                role: 'user',
                content: 'Take your time and stream this rather long sentence back to me, please.',
              },
            ],
            stream: true,
          },
          { signal: controller.signal }
        )
        .withResponse()
      expect(response.headers.get('x-gatehouse-provider')).toBe('slow')
      const recorded = slow.requests.at(-1)
      expect(recorded?.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
      const first = await stream[Symbol.asyncIterator]().next()
      expect(first.value?.choices[0]?.delta.role).toBe('assistant')
      controller.abort()
      // The whole stream takes 10 s; the upstream must see the disconnect long before.
      const outcome = await Promise.race([
        recorded?.settled,
        new Promise((resolve) => setTimeout(resolve, 5_000, 'still open')),
      ])
      expect(outcome).toBe('aborted')
    },
  },
  {
    name: 'retries a passed-through answer whose body breaks off mid-way, and answers from the next attempt',
    run: async (gateway) => {
      gateway.upstreams.openai.enqueue({ dropAfterChunks: 1 })
      const { data, response } = await openAIClient(gateway)
        .chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'break once, then answer' }],
        })
        .withResponse()
      expect(response.headers.get('x-gatehouse-attempts')).toBe('2')
      expect(data.choices[0].message.content).toBe('echo: break once, then answer')
    },
  },
  {
    name: 'ends a passed-through stream whose connection breaks with the upstream failure, not an internal error',
    run: async (gateway) => {
      gateway.upstreams.openai.enqueue({ dropAfterChunks: 2 })
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${gateway.masterKey}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          stream: true,
          messages: [{ role: 'user', content: 'break mid-way' }],
        }),
      })
      expect(response.status).toBe(200)
      const events = (await response.text()).trim().split('\n\n')
      const last = JSON.parse(events.at(-1)!.replace(/^data: /, '')) as {
        error: { message: string; code: string | null }
      }
      expect(last.error.code).toBe('upstream_error')
      expect(last.error.message).toMatch(/^The connection to .+ failed/)
    },
  },
  {
    name: "answers 401 in each client's shape without the master key, and never calls the upstream",
    run: async (gateway) => {
      const { openai: upstream } = gateway.upstreams
      const before = upstream.requests.length
      const missing = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
      })
      expect(missing.status).toBe(401)
      expect(await missing.json()).toMatchObject({
        error: { type: 'invalid_request_error', code: 'invalid_api_key' },
      })

      const openAIFailure = await openAIClient(gateway, 'not-the-master-key')
        .chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Hi' }],
        })
        .catch((error: unknown) => error)
      expect(openAIFailure).toBeInstanceOf(OpenAI.AuthenticationError)

      const anthropicFailure = await anthropicClient(gateway, 'not-the-master-key')
        .messages.create({
          model: 'openai/gpt-4o-mini',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'Hi' }],
        })
        .catch((error: unknown) => error)
      expect(anthropicFailure).toBeInstanceOf(Anthropic.AuthenticationError)
      expect(
        (anthropicFailure as InstanceType<typeof Anthropic.AuthenticationError>).error
      ).toMatchObject({
        type: 'error',
        error: { type: 'authentication_error' },
      })
      expect(upstream.requests.length).toBe(before)
    },
  },
  {
    name: "echoes a client's x-request-id and generates one otherwise",
    run: async (gateway) => {
      const given = await fetch(`${gateway.url}/healthz`, {
        headers: { 'x-request-id': 'client-trace-42' },
      })
      await given.body?.cancel()
      expect(given.headers.get('x-request-id')).toBe('client-trace-42')
      const generated = await fetch(`${gateway.url}/healthz`)
      await generated.body?.cancel()
      expect(generated.headers.get('x-request-id')).toMatch(/^req_\w+$/)
    },
  },
  {
    name: 'serves the docs assets itself, and nothing else of that folder',
    run: async (gateway) => {
      const css = await fetch(`${gateway.url}/docs/assets/swagger-ui.css`)
      expect(css.status).toBe(200)
      expect(css.headers.get('content-type')).toContain('text/css')
      expect(css.headers.get('x-request-id')).toMatch(/^req_/)
      expect(await css.text()).toContain('.swagger-ui')
      const page = await fetch(`${gateway.url}/docs`)
      expect(await page.text()).toContain('/docs/assets/swagger-ui-bundle.js')
      for (const path of [
        '/swagger-ui.css',
        '/index.html',
        '/package.json',
        '/docs/assets/package.json',
      ]) {
        const response = await fetch(`${gateway.url}${path}`)
        await response.body?.cancel()
        expect(response.status, path).toBe(404)
      }
    },
  },
]
