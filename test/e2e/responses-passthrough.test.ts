/**
 * OpenAI SDK → gateway `POST /v1/responses` → an OpenAI upstream: the request goes as it was sent (built-in tools,
 * `store`, `previous_response_id` included), the bytes come back as they arrived, and a side tap reads the usage.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { createTenantKey, E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'openai/gpt-4o-mini'

type Event = { type: string; sequence_number: number } & Record<string, unknown>

const usageLines = (gateway: E2EGateway, requestId: string | null) =>
  gateway.logs
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"msg":"usage"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.requestId === requestId)

const eventually = async <T>(read: () => T | undefined, timeoutMs = 3_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('not seen in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('OpenAI Responses client → gateway → OpenAI upstream (forwarded)', () => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({ openai: { streamChunks: 3 }, usageLog: true })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamRequests = () =>
    gateway.openai.requests.filter((request) => request.path === '/v1/responses')

  it('forwards the request as sent, with the upstream model and key, and records its usage', async () => {
    const { data: response, response: raw } = await client.responses
      .create({
        model,
        input: 'hello openai',
        instructions: 'Be brief.',
        tools: [{ type: 'web_search' }],
        metadata: { ticket: '42' },
      })
      .withResponse()
    expectValidOpenAI('Response', response)
    expect(response.output_text).toBe('echo: hello openai')
    const [upstream] = upstreamRequests()
    expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    expect(upstream.body).toEqual({
      model: 'gpt-4o-mini',
      input: 'hello openai',
      instructions: 'Be brief.',
      tools: [{ type: 'web_search' }],
      metadata: { ticket: '42' },
    })
    expect(raw.headers.get('x-gatehouse-provider')).toBe('openai')
    const [usage] = await eventually(() => {
      const lines = usageLines(gateway, raw.headers.get('x-request-id'))
      return lines.length > 0 ? lines : undefined
    })
    expect(usage).toMatchObject({
      operation: 'responses',
      provider: 'openai',
      status: 200,
      usage: {
        inputTokens: response.usage?.input_tokens,
        outputTokens: response.usage?.output_tokens,
      },
    })
    expect(usage.costMicroUsd).toEqual(expect.any(Number))
  })

  it("sends the client's own bytes upstream when nothing in the body changes (store: false, as Codex CLI sends)", async () => {
    const text = '{"model":"gpt-4o-mini", "input":"same bytes","store":false,"temperature":1.0}'
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
      body: text,
    })
    expect(response.status).toBe(200)
    expect(
      ((await response.json()) as { output_text?: string; output: unknown[] }).output
    ).not.toHaveLength(0)
    expect(upstreamRequests().at(-1)!.text).toBe(text)
  })

  it('streams the upstream events through unchanged and reads the usage from response.completed', async () => {
    const { data: stream, response: raw } = await client.responses
      .create({ model, input: 'hello stream', stream: true })
      .withResponse()
    const events: Event[] = []
    for await (const event of stream) events.push(event as unknown as Event)
    for (const event of events) expectValidOpenAI('ResponseStreamEvent', event)
    expect(events.at(-1)?.type).toBe('response.completed')
    const completed = events.at(-1) as Event & { response: { usage: { output_tokens: number } } }
    const [usage] = await eventually(() => {
      const lines = usageLines(gateway, raw.headers.get('x-request-id'))
      return lines.length > 0 ? lines : undefined
    })
    expect(usage).toMatchObject({
      operation: 'responses',
      stream: true,
      usage: { outputTokens: completed.response.usage.output_tokens },
    })
  })

  it('chains by previous_response_id on the upstream that stored the response', async () => {
    const first = await client.responses.create({ model, input: 'remember this' })
    const second = await client.responses.create({
      model,
      input: 'and now?',
      previous_response_id: first.id,
    })
    expectValidOpenAI('Response', second)
    expect(upstreamRequests()[1].body).toMatchObject({ previous_response_id: first.id })
  })

  it('ends a stream the upstream broke after its first byte with an error event numbered after the last one', async () => {
    gateway.openai.enqueue({ dropAfterChunks: 4 })
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, input: 'break please', stream: true }),
    })
    expect(response.status).toBe(200)
    const events = (await response.text())
      .split('\n\n')
      .filter((frame) => frame.trim() !== '')
      .map((frame) => {
        const data = frame.split('\n').find((line) => line.startsWith('data: '))
        return JSON.parse(data!.slice('data: '.length)) as Event
      })
    const last = events.at(-1)!
    expect(last.type).toBe('error')
    expectValidOpenAI('ResponseStreamEvent', last)
    expect(last.sequence_number).toBe(events.at(-2)!.sequence_number + 1)
  })

  it('lets a tenant key name only its own tenant’s responses and items; the master key any', async () => {
    const keyOf = (tenant: string) => createTenantKey(gateway.url, tenant)
    const acme = new OpenAI({
      apiKey: await keyOf('acme-responses'),
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    })
    const globex = new OpenAI({
      apiKey: await keyOf('globex-responses'),
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    })
    const first = await acme.responses.create({ model, input: 'acme secret' })
    const item = first.output[0].id!
    // Recorded before the answer reached the client: the tenant's own chain and reference work at once (OpenAI
    // resolves them).
    const chained = await acme.responses.create({
      model,
      input: 'and then?',
      previous_response_id: first.id,
    })
    expect(chained.status).toBe('completed')
    await acme.responses.create({
      model,
      input: [
        { type: 'item_reference', id: item },
        { role: 'user', content: 'more' },
      ],
    })
    const upstreamBefore = upstreamRequests().length

    const refused = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
      )
    const byId = await refused(
      globex.responses.create({ model, input: 'x', previous_response_id: first.id })
    )
    expect(byId?.status).toBe(404)
    expect(byId?.error).toMatchObject({ param: 'previous_response_id' })
    const byItem = await refused(
      globex.responses.create({ model, input: [{ type: 'item_reference', id: item }] })
    )
    expect(byItem?.status).toBe(404)
    expect(await refused(globex.responses.retrieve(first.id))).toMatchObject({ status: 404 })
    expect(upstreamRequests()).toHaveLength(upstreamBefore)

    // The master key names any id: the upstream judges it.
    const master = await client.responses.create({
      model,
      input: 'operator',
      previous_response_id: first.id,
    })
    expect(master.status).toBe('completed')
  })
})
