import { describe, expect, it } from 'vitest'
import { createFakeClock } from '../../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../../test/helpers/fake-deps.ts'
import { createMemoryResponseStore } from '../../stores/memory/memory-response-store.ts'
import { maxAppendedOutputItems, type StoredResponse } from '../../stores/response-store.ts'
import { parseJsonBody } from './proxy-stored-response.ts'
import { prepareStoredResponses, recordRetrievedOutput } from './stored-responses.ts'
import type { Context } from 'hono'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import type { ResponseStore } from '../../stores/response-store.ts'

const acme = { tenantId: 'ten_acme' }
const held = 'gatehouse.held_upstream'

/** The record of a forwarded background response, as `keepForwarded` writes it while the response is queued. */
const record = (output: unknown[] = []): StoredResponse => ({
  id: 'resp_bg',
  tenantId: acme.tenantId,
  createdAt: 0,
  expiresAt: null,
  model: 'gpt-4o-mini',
  provider: 'openai',
  response: { id: 'resp_bg', object: held, output },
  input: [],
  context: [],
})

/** A retrieve's body, as OpenAI answers it. */
const body = (response: Record<string, unknown>): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ id: 'resp_bg', object: 'response', ...response }))

const finished = (ids: string[], status = 'completed') =>
  body({ status, output: ids.map((id) => ({ id, type: 'message', role: 'assistant' })) })

const setUp = async (stored = record()) => {
  const store = createMemoryResponseStore({ clock: createFakeClock() })
  await store.put(stored)
  const logger = createRecordingLogger()
  const run = async (retrieved: Uint8Array, status = 200, using = stored) =>
    recordRetrievedOutput({
      store,
      logger,
      record: using,
      status,
      retrieved: parseJsonBody(retrieved),
    })
  const output = async () => (await store.get('resp_bg', acme))?.response.output
  return { store, logger, run, output }
}

describe('recordRetrievedOutput', () => {
  it('adds the output item ids of a finished response to its record, with the provider, in the tenant’s scope', async () => {
    const { store, run, output } = await setUp()
    await run(finished(['rs_1', 'msg_2']))
    const expected = [
      { id: 'rs_1', type: held, provider: 'openai' },
      { id: 'msg_2', type: held, provider: 'openai' },
    ]
    expect(await output()).toEqual(expected)
    expect(Object.fromEntries(await store.getItems(['rs_1', 'msg_2'], acme))).toEqual({
      rs_1: expected[0],
      msg_2: expected[1],
    })
    expect(await store.getItems(['rs_1'], { tenantId: 'ten_globex' })).toEqual(new Map())
    expect(await store.getItems(['rs_1'], { tenantId: null })).toEqual(new Map())
  })

  it('takes an incomplete response’s items too, but nothing from one queued, in progress, cancelled or failed', async () => {
    for (const status of ['queued', 'in_progress', 'cancelled', 'failed']) {
      const { run, output } = await setUp()
      await run(finished(['msg_1'], status))
      expect(await output(), status).toEqual([])
    }
    const { run, output } = await setUp()
    await run(finished(['msg_1'], 'incomplete'))
    expect(await output()).toHaveLength(1)
  })

  it('writes nothing for another id, an error status, a body that is not JSON, or a record that has its output', async () => {
    const { run, output } = await setUp()
    await run(
      new TextEncoder().encode(
        JSON.stringify({
          id: 'resp_other',
          object: 'response',
          status: 'completed',
          output: [{ id: 'x' }],
        })
      )
    )
    await run(finished(['msg_1']), 404)
    await run(new TextEncoder().encode('{"id":"resp_bg",'))
    await run(body({ status: 'completed', output: [{ type: 'message' }] }))
    expect(await output()).toEqual([])

    // Recorded with its output at the create (not a background response): a retrieve adds nothing.
    const known = record([{ id: 'msg_0', type: held, provider: 'openai' }])
    const other = await setUp(known)
    await other.run(finished(['msg_late']))
    expect(await other.output()).toEqual(known.response.output)
  })

  it('records at most the bound, skipping ids the store would refuse', async () => {
    const { run, output } = await setUp()
    const ids = Array.from({ length: maxAppendedOutputItems + 5 }, (_, index) => `msg_${index}`)
    await run(finished(['x'.repeat(201), ...ids]))
    const recorded = (await output()) as { id: string }[]
    expect(recorded).toHaveLength(maxAppendedOutputItems)
    expect(recorded[0].id).toBe('msg_0')
  })

  it('logs a store failure instead of failing the retrieve', async () => {
    const { store, logger, run } = await setUp()
    store.appendOutput = () => Promise.reject(new Error('database is locked'))
    await expect(run(finished(['msg_1']))).resolves.toBeUndefined()
    expect(logger.lines).toMatchObject([
      { level: 'warn', fields: { responseId: 'resp_bg', error: 'database is locked' } },
    ])
  })
})

describe('prepareStoredResponses', () => {
  const prepareWith = (store: ResponseStore) =>
    prepareStoredResponses({
      store,
      clock: createFakeClock(),
      logger: createRecordingLogger(),
      defer: () => {},
    })
  const c = {
    get: (key: string) => (key === 'principal' ? { tenantId: acme.tenantId } : undefined),
  } as unknown as Context<GatewayEnv>

  it('hands a store: false request that names nothing stored on as it came, without the store', async () => {
    const untouchable = new Proxy({} as ResponseStore, {
      get: () => () => Promise.reject(new Error('the store was asked')),
    })
    const prepare = prepareWith(untouchable)
    for (const sent of [
      { model: 'm', input: 'hi', store: false },
      {
        model: 'm',
        input: [{ role: 'user', content: 'hi' }, { type: 'item_reference' }],
        store: false,
      },
    ]) {
      const prepared = await prepare(c, sent)
      expect(prepared.body).toBe(sent)
      expect(prepared).toEqual({ body: sent })
    }
  })

  it('still expands what a store: false request names', async () => {
    const store = createMemoryResponseStore({ clock: createFakeClock() })
    await store.put({
      ...record(),
      id: 'resp_own',
      provider: null,
      response: { id: 'resp_own', object: 'response', output: [] },
      context: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'before' }] },
      ],
    })
    const prepared = await prepareWith(store)(c, {
      model: 'm',
      input: 'hi',
      store: false,
      previous_response_id: 'resp_own',
    })
    expect(prepared.body.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'before' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
    ])
    expect(prepared.echo).toEqual({ previous_response_id: 'resp_own' })
  })
})
