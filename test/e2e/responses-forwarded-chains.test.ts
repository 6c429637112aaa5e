/**
 * Responses an OpenAI upstream stored (forwarded through the gateway) stay reachable where they live: retrieve, delete
 * and input items are asked of the provider that created the response, with its credential, and a chain
 * (`previous_response_id`, `item_reference`) goes to that provider whatever the route's order, after a fallback, and
 * on another gateway instance sharing the SQL store, at once. All of it per tenant: another tenant's key gets a 404
 * and nothing reaches an upstream; the master key may name any id. Background mode: the create answers `queued`,
 * polling retrieves reach the provider, the output items of the finished response become the tenant's to reference,
 * and cancel reaches the provider too (a response the gateway converted is a 400, as a foreground one is on OpenAI).
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_OPENAI_API_KEY } from '../helpers/mock-openai-upstream.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { createTenantKey, E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const model = 'openai/gpt-4o-mini'
/** A route whose first target is Anthropic: a chain stored on OpenAI must skip it. */
const anthropicFirst = 'anthropic-first'

type ApiError = InstanceType<typeof OpenAI.APIError>

const refused = (promise: Promise<unknown>): Promise<ApiError | undefined> =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ApiError
  )

describe('forwarded Responses reach the provider that stored them', () => {
  let gateway: E2EGateway
  let otherUrl: string
  let acmeKey: string
  let globexKey: string
  const client = (apiKey: string, url = gateway.url) =>
    new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 })

  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({
      openai: { streamChunks: 3 },
      routes: [
        `  - name: ${anthropicFirst}`,
        '    targets: [{ provider: anthropic, model: claude-haiku-4-5 }, { provider: openai, model: gpt-4o-mini }]',
      ],
    })
    otherUrl = (await gateway.startAnotherInstance()).url
    const keyOf = (tenant: string) => createTenantKey(gateway.url, tenant)
    acmeKey = await keyOf('acme-forwarded')
    globexKey = await keyOf('globex-forwarded')
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const openAIRequests = () =>
    gateway.openai.requests.filter((request) => request.path.startsWith('/v1/responses'))

  it('retrieves, lists the input items of and deletes a forwarded response at its provider, for its tenant only', async () => {
    const acme = client(acmeKey)
    const created = await acme.responses.create({
      model,
      input: [
        { role: 'user', content: 'first' },
        { role: 'user', content: 'second' },
      ],
    })

    const retrieved = await acme.responses.retrieve(created.id)
    expectValidOpenAI('Response', retrieved)
    expect(retrieved).toEqual(created)
    const asked = openAIRequests().at(-1)!
    expect(asked).toMatchObject({ method: 'GET', path: `/v1/responses/${created.id}` })
    expect(asked.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)

    const listing = await fetch(
      `${gateway.url}/v1/responses/${created.id}/input_items?order=asc&limit=1&ignored=1`,
      { headers: { authorization: `Bearer ${acmeKey}` } }
    )
    expect(listing.status).toBe(200)
    const page = (await listing.json()) as OpenAI.Responses.ResponseItemList
    expectValidOpenAI('ResponseItemList', page)
    expect(page.data).toHaveLength(1)
    expect(page.data[0]).toMatchObject({ type: 'message', role: 'user' })
    expect(page.has_more).toBe(true)
    const listed = openAIRequests().at(-1)!
    expect(listed.method).toBe('GET')
    expect(new URL(listed.path, 'http://x').pathname).toBe(
      `/v1/responses/${created.id}/input_items`
    )
    // The API's parameters pass; others stay here.
    expect(Object.fromEntries(new URL(listed.path, 'http://x').searchParams)).toEqual({
      order: 'asc',
      limit: '1',
    })

    // Another tenant: a 404 for all three, and the upstream is not asked.
    const globex = client(globexKey)
    const before = openAIRequests().length
    for (const call of [
      () => globex.responses.retrieve(created.id),
      () => globex.responses.inputItems.list(created.id),
      () => globex.responses.delete(created.id),
    ])
      expect((await refused(call()))?.status).toBe(404)
    expect(openAIRequests()).toHaveLength(before)

    // The master key may name any id: asked of the one provider that stores responses.
    const master = client(E2E_MASTER_KEY)
    expect((await master.responses.retrieve(created.id)).id).toBe(created.id)
    // The upstream's refusal, as it said it, in OpenAI's error shape.
    const unknown = await refused(master.responses.retrieve('resp_unknown'))
    expect(unknown?.status).toBe(404)
    expect(unknown?.error).toMatchObject({
      message: "Response with id 'resp_unknown' not found.",
    })

    // Deleted upstream, and its record with it: the tenant's next retrieve is a 404 without asking the upstream.
    const deleted = await acme.responses.delete(created.id)
    expect(deleted).toEqual({ id: created.id, object: 'response', deleted: true })
    expect(openAIRequests().at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/v1/responses/${created.id}`,
    })
    const after = openAIRequests().length
    expect((await refused(acme.responses.retrieve(created.id)))?.status).toBe(404)
    expect(openAIRequests()).toHaveLength(after)
  })

  it('pins a chain to the provider that stored it: past the route’s first target, after a fallback, by reference', async () => {
    const acme = client(acmeKey)
    const first = await acme.responses.create({ model, input: 'remember 42' })
    const chained = await acme.responses.create({
      model: anthropicFirst,
      input: 'what did I say?',
      previous_response_id: first.id,
    })
    expect(chained.status).toBe('completed')
    expect(gateway.anthropic.requests).toHaveLength(0)
    expect(openAIRequests().at(-1)!.body).toMatchObject({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
    })

    // The route's first target fails: the answer comes from OpenAI, and the chain goes there next time at once.
    gateway.anthropic.enqueue({ status: 503 }, { status: 503 }, { status: 503 })
    const fellBack = await acme.responses.create({ model: anthropicFirst, input: 'hello' })
    const anthropicCalls = gateway.anthropic.requests.length
    expect(anthropicCalls).toBe(3)
    const next = await acme.responses.create({
      model: anthropicFirst,
      input: 'and then?',
      previous_response_id: fellBack.id,
    })
    expect(next.status).toBe('completed')
    expect(gateway.anthropic.requests).toHaveLength(anthropicCalls)

    // An item_reference to one of its items pins the call the same way.
    const byReference = await acme.responses.create({
      model: anthropicFirst,
      input: [
        { type: 'item_reference', id: first.output[0].id! },
        { role: 'user', content: 'go on' },
      ],
    })
    expect(byReference.status).toBe('completed')
    expect(gateway.anthropic.requests).toHaveLength(anthropicCalls)
  })

  it('refuses a chain whose model does not lead to the provider that stored it, saying where it lives', async () => {
    const acme = client(acmeKey)
    const first = await acme.responses.create({ model, input: 'stored on openai' })
    const error = await refused(
      acme.responses.create({
        model: 'anthropic/claude-haiku-4-5',
        input: 'continue',
        previous_response_id: first.id,
      })
    )
    expect(error?.status).toBe(400)
    expect(error?.error).toMatchObject({ param: 'previous_response_id' })
    expect(error?.message).toContain('provider "openai"')
    expect(gateway.anthropic.requests).toHaveLength(0)
  })

  /** Retrieves until the response is no longer queued or in progress; the statuses seen, in order. */
  const poll = async (api: OpenAI, id: string) => {
    const seen: string[] = []
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const response = await api.responses.retrieve(id)
      seen.push(String(response.status))
      if (response.status !== 'queued' && response.status !== 'in_progress')
        return { response, seen }
    }
    throw new Error(`still not done after 5 retrieves: ${seen.join(', ')}`)
  }

  it('runs a background response: queued at once, polled to completion, its output items then the tenant’s to reference', async () => {
    const acme = client(acmeKey)
    const queued = await acme.responses.create({ model, input: 'later', background: true })
    expect(queued).toMatchObject({ status: 'queued', background: true, output: [] })
    expect(openAIRequests().at(-1)!.body).toMatchObject({ background: true })

    const { response: done, seen } = await poll(acme, queued.id)
    expect(seen).toEqual(['in_progress', 'completed'])
    expectValidOpenAI('Response', done)
    expect(done.output_text).toBe('echo: later')
    const itemId = done.output[0].id!

    // Referenced by the tenant (here and on another instance): pinned to OpenAI past the route's Anthropic target.
    for (const url of [gateway.url, otherUrl]) {
      const referenced = await client(acmeKey, url).responses.create({
        model: anthropicFirst,
        input: [
          { type: 'item_reference', id: itemId },
          { role: 'user', content: 'go on' },
        ],
      })
      expect(referenced.status).toBe('completed')
      expect(openAIRequests().at(-1)!.body).toMatchObject({
        model: 'gpt-4o-mini',
        input: [{ type: 'item_reference', id: itemId }, { role: 'user' }],
      })
    }
    expect(gateway.anthropic.requests).toHaveLength(0)

    // Another tenant: neither the response nor its items, and nothing goes upstream.
    const before = openAIRequests().length
    const globex = client(globexKey)
    expect((await refused(globex.responses.retrieve(queued.id)))?.status).toBe(404)
    const borrowed = await refused(
      globex.responses.create({ model, input: [{ type: 'item_reference', id: itemId }] })
    )
    expect(borrowed?.status).toBe(404)
    expect(borrowed?.error).toMatchObject({ param: 'input.0.id' })
    expect(openAIRequests()).toHaveLength(before)
  })

  it('cancels a background response at its provider, for its tenant only; a converted one cannot be cancelled', async () => {
    const acme = client(acmeKey)
    const queued = await acme.responses.create({ model, input: 'stop me', background: true })

    // Another tenant's cancel: a 404, and nothing goes upstream.
    const before = openAIRequests().length
    const foreign = await refused(client(globexKey).responses.cancel(queued.id))
    expect(foreign?.status).toBe(404)
    expect(openAIRequests()).toHaveLength(before)

    // Not validated against the OpenAPI document: the API's `usage: null` of an unfinished response is not in it.
    const cancelled = await acme.responses.cancel(queued.id)
    expect(cancelled).toMatchObject({ id: queued.id, status: 'cancelled', output: [] })
    const asked = openAIRequests().at(-1)!
    expect(asked).toMatchObject({ method: 'POST', path: `/v1/responses/${queued.id}/cancel` })
    expect(asked.headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    expect((await acme.responses.retrieve(queued.id)).status).toBe('cancelled')
    // The master key as for retrieve: any id, asked of the provider; a finished one comes back as it is.
    expect((await client(E2E_MASTER_KEY).responses.cancel(queued.id)).status).toBe('cancelled')

    // Not made in background on OpenAI: the upstream's 400, as it said it.
    const foreground = await acme.responses.create({ model, input: 'now' })
    const synchronous = await refused(acme.responses.cancel(foreground.id))
    expect(synchronous?.status).toBe(400)
    expect(synchronous?.error).toMatchObject({
      message: 'Cannot cancel a synchronous response.',
      type: 'invalid_request_error',
    })

    // Converted (and stored) by the gateway: never in background, so the same 400, without asking any upstream.
    const converted = await acme.responses.create({
      model: 'anthropic/claude-haiku-4-5',
      input: 'hello',
    })
    const upstreamCalls = openAIRequests().length + gateway.anthropic.requests.length
    const refusal = await refused(acme.responses.cancel(converted.id))
    expect(refusal?.status).toBe(400)
    expectValidOpenAI('ErrorResponse', { error: refusal?.error })
    expect(refusal?.error).toMatchObject({
      message: 'Cannot cancel a synchronous response.',
      type: 'invalid_request_error',
    })
    expect((await refused(client(globexKey).responses.cancel(converted.id)))?.status).toBe(404)
    expect((await refused(acme.responses.cancel('resp_never_made')))?.status).toBe(404)
    expect(openAIRequests().length + gateway.anthropic.requests.length).toBe(upstreamCalls)
  })

  it('finds a streamed response at once on another instance (shared SQL store), with a tenant key', async () => {
    const here = client(acmeKey)
    const there = client(acmeKey, otherUrl)
    const stream = await here.responses.create({ model, input: 'remember 7', stream: true })
    let id: string | undefined
    let itemId: string | undefined
    for await (const event of stream)
      if (event.type === 'response.completed') {
        id = event.response.id
        itemId = event.response.output[0].id
      }
    // No wait: the record was written before response.completed reached the client.
    const chained = await there.responses.create({
      model: anthropicFirst,
      input: 'what number?',
      previous_response_id: id,
    })
    expect(chained.status).toBe('completed')
    const referenced = await there.responses.create({
      model: anthropicFirst,
      input: [
        { type: 'item_reference', id: itemId! },
        { role: 'user', content: 'what number?' },
      ],
    })
    expect(referenced.status).toBe('completed')
    expect(gateway.anthropic.requests).toHaveLength(0)
    expect((await there.responses.retrieve(id!)).id).toBe(id)
  })
})
