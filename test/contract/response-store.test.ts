/**
 * The response store contract (stored Responses API responses and their items), run in memory, on SQLite and on
 * PostgreSQL: what is put comes back as it was, only in the scope that stored it (a tenant, or the master key),
 * until it is deleted or expires; items resolve across responses, the newest copy first; input items page as
 * OpenAI's list does; pruning removes only what expired; writers in two processes lose nothing.
 */
import { expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors.ts'
import { createMemoryResponseStore } from '../../src/stores/memory/memory-response-store.ts'
import type { UsageEvent } from '../../src/core/usage.ts'
import type { AdmissionTicket } from '../../src/stores/admission-store.ts'
import {
  maxAppendedOutputItems,
  type PendingUsage,
  type ResponseItem,
  type ResponseScope,
  type ResponseStore,
  type StoredResponse,
} from '../../src/stores/response-store.ts'
import { createSqlResponseStore } from '../../src/stores/sql/sql-response-store.ts'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts'
import { defineStoreContract, type StoreImplementation } from './define-store-contract.ts'
import { sqlStoreImplementations } from './sql-store-implementations.ts'
import { startSqlChild, type SqlChild } from './start-sql-child.ts'

type Fixture = {
  store: ResponseStore
  clock: FakeClock
  /** Another writer putting `entries` when told to go: another process on SQL, the same store in memory. */
  putElsewhere(entries: StoredResponse[]): SqlChild
  /** Another caller claiming the settlements of `ids` in `scope` (all at once) when told to go; answers those it got. */
  claimElsewhere(ids: string[], scope: ResponseScope): SqlChild
  /** Another poller running `queries` (all at once) when told to go; answers the ids they handed out. */
  takeElsewhere(queries: Parameters<ResponseStore['takeDuePolls']>[0][]): SqlChild
}

const start = Date.UTC(2026, 2, 1, 12)
const day = 86_400_000
const acme: ResponseScope = { tenantId: 'ten_acme' }
const globex: ResponseScope = { tenantId: 'ten_globex' }
const master: ResponseScope = { tenantId: null }

const message = (id: string, role: string, text: string): ResponseItem => ({
  type: 'message',
  id,
  role,
  content: [{ type: role === 'user' ? 'input_text' : 'output_text', text }],
})

/** A stored response as the route would make it: `output` items in the response, ids on every input item. */
const entry = (
  id: string,
  scope: ResponseScope,
  extra: Partial<StoredResponse> & { output?: ResponseItem[] } = {}
): StoredResponse => {
  const { output = [message(`msg_out_${id}`, 'assistant', `answer of ${id}`)], ...rest } = extra
  const input = rest.input ?? [message(`msg_in_${id}`, 'user', `question of ${id}`)]
  return {
    id,
    tenantId: scope.tenantId,
    createdAt: start,
    expiresAt: start + 30 * day,
    model: 'claude-sonnet-4-5',
    provider: 'anthropic',
    response: { id, object: 'response', created_at: start / 1000, status: 'completed', output },
    input,
    context: input,
    ...rest,
  }
}

/** The `GatewayError` `promise` rejects with (fails the case if it resolves or throws something else). */
const refusal = async (promise: Promise<unknown>): Promise<GatewayError> => {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal, got a result')
    },
    (reason: unknown) => reason
  )
  expect(error).toBeInstanceOf(GatewayError)
  return error as GatewayError
}

/** In memory, "another writer" is the same store, its calls overlapping the test's own. */
const memoryCaller = (work: () => Promise<unknown>): SqlChild => {
  let go: () => void = () => {}
  const started = new Promise<void>((resolve) => (go = resolve))
  return { ready: Promise.resolve(), go, result: started.then(work) }
}

const memory: StoreImplementation<Fixture> = {
  name: 'memory',
  create: async () => {
    const clock = createFakeClock(start)
    const store = createMemoryResponseStore({ clock })
    return {
      store: {
        store,
        clock,
        putElsewhere: (entries) =>
          memoryCaller(async () => {
            await Promise.all(entries.map((stored) => store.put(stored)))
            return entries.length
          }),
        claimElsewhere: (ids, scope) =>
          memoryCaller(async () => {
            const claimed = await Promise.all(ids.map((id) => store.claimSettlement(id, scope)))
            return ids.filter((_, index) => claimed[index] !== null)
          }),
        takeElsewhere: (queries) =>
          memoryCaller(async () =>
            (await Promise.all(queries.map((query) => store.takeDuePolls(query))))
              .flat()
              .map((poll) => poll.id)
          ),
      },
    }
  },
}

/** What a background response owes, as the create would record it. */
const pendingUsage = (requestId: string, reservation: AdmissionTicket | null): PendingUsage => {
  const event: UsageEvent = {
    requestId,
    principalId: 'key_1',
    tenantId: 'ten_acme',
    keyId: 'key_1',
    userId: null,
    tags: ['nightly'],
    dialect: 'openai',
    operation: 'responses',
    requestedModel: 'gpt-4o-mini',
    route: null,
    provider: 'openai',
    model: 'gpt-4o-mini-2024-07-18',
    stream: false,
    status: 200,
    refused: false,
    usage: null,
    attempts: 1,
    startedAt: start,
    latencyMs: 12,
    ttfbMs: 10,
    costMicroUsd: null,
    clientAborted: false,
    error: null,
  }
  return { event, reservation }
}

const ticket: AdmissionTicket = {
  id: 'tk_1',
  tenantId: 'ten_acme',
  keyId: 'key_1',
  tokens: 40,
  costMicroUsd: 2_500,
  at: start,
  tokenScopes: [],
  concurrentScopes: [],
  budgets: [{ scope: 'key', periodKey: 'm2026-03', periodEnd: start + 30 * day }],
  degraded: false,
}

/** A forwarded background response's record, owing usage: no output yet. */
const background = (id: string, scope: ResponseScope, extra: Partial<StoredResponse> = {}) =>
  entry(id, scope, {
    provider: 'openai',
    response: { id, object: 'gatehouse.held_upstream', output: [] },
    input: [],
    context: [],
    pendingUsage: pendingUsage(`req_${id}`, ticket),
    ...extra,
  })

defineStoreContract<Fixture>({
  name: 'response store',
  implementations: [
    memory,
    ...sqlStoreImplementations((database, target): Fixture => {
      const clock = createFakeClock(start)
      return {
        store: createSqlResponseStore({ database, clock }),
        clock,
        putElsewhere: (entries) =>
          startSqlChild({ command: 'put-responses', url: target.url, payload: entries }),
        claimElsewhere: (ids, scope) =>
          startSqlChild({ command: 'claim-settlements', url: target.url, payload: { ids, scope } }),
        takeElsewhere: (queries) =>
          startSqlChild({ command: 'take-polls', url: target.url, payload: queries }),
      }
    }),
  ],
  cases: (getFixture) => {
    it('gives back what was put, JSON intact', async () => {
      const { store } = getFixture()
      const stored = entry('resp_1', acme, {
        provider: null,
        expiresAt: null,
        response: {
          id: 'resp_1',
          object: 'response',
          // Key order, unicode, a NUL escape (refused by PostgreSQL's jsonb), numbers, nulls, nesting.
          z_first: 1,
          a_second: { nested: [1, 2.5, -3e-7, null, true, 'é🙂\u0000\n"\\'], empty: {} },
          output: [
            {
              type: 'function_call',
              id: 'fc_1',
              call_id: 'call_1',
              name: 'f',
              arguments: '{"x":1}',
            },
          ],
          usage: { input_tokens: 12, output_tokens: 34 },
        },
        input: [
          message('msg_a', 'user', 'hi'),
          { type: 'function_call_output', call_id: 'c', output: '' },
        ],
        context: [message('msg_0', 'user', 'earlier'), message('msg_a', 'user', 'hi')],
      })
      await store.put(stored)
      const got = await store.get('resp_1', acme)
      expect(got).toEqual(stored)
      expect(JSON.stringify(got)).toBe(JSON.stringify(stored))
      expect(await store.get('resp_missing', acme)).toBeNull()
    })

    it('keeps what was put from changes the caller makes afterwards', async () => {
      const { store } = getFixture()
      const stored = entry('resp_1', acme)
      await store.put(stored)
      ;(stored.input[0] as { role: string }).role = 'changed'
      const got = await store.get('resp_1', acme)
      expect(got?.input[0]).toMatchObject({ role: 'user' })
      ;(got?.response as { status: string }).status = 'changed'
      expect((await store.get('resp_1', acme))?.response.status).toBe('completed')
    })

    it('shows a response to the scope that stored it only: tenants and the master key see nothing of each other', async () => {
      const { store } = getFixture()
      await store.put(entry('resp_acme', acme))
      await store.put(entry('resp_master', master))
      for (const [id, owner, others] of [
        ['resp_acme', acme, [globex, master]],
        ['resp_master', master, [acme, globex]],
      ] as const) {
        expect(await store.get(id, owner)).not.toBeNull()
        for (const other of others) {
          expect(await store.get(id, other)).toBeNull()
          expect(await store.listInputItems(id, other, { limit: 20, order: 'desc' })).toBeNull()
          expect(await store.getItems([`msg_out_${id}`, `msg_in_${id}`], other)).toEqual(new Map())
          expect(await store.delete(id, other)).toBe(false)
        }
        // Nothing the others did removed it.
        expect(await store.get(id, owner)).not.toBeNull()
        expect([...(await store.getItems([`msg_out_${id}`], owner)).keys()]).toEqual([
          `msg_out_${id}`,
        ])
      }
    })

    it('refuses an id stored already, in any scope, keeping the first', async () => {
      const { store } = getFixture()
      const first = entry('resp_1', acme)
      await store.put(first)
      for (const scope of [acme, globex, master]) {
        const error = await refusal(store.put(entry('resp_1', scope, { model: 'other' })))
        expect([error.status, error.param]).toEqual([409, 'id'])
      }
      expect(await store.get('resp_1', acme)).toEqual(first)
      expect(await store.get('resp_1', globex)).toBeNull()
    })

    it('refuses an invalid entry naming the field, storing nothing', async () => {
      const { store } = getFixture()
      const cases: [StoredResponse, string][] = [
        [{ ...entry('resp_1', acme), id: '' }, 'id'],
        [{ ...entry('resp_1', acme), createdAt: 1.5 }, 'createdAt'],
        [{ ...entry('resp_1', acme), expiresAt: -1 }, 'expiresAt'],
        [{ ...entry('resp_1', acme), input: ['text'] as unknown as ResponseItem[] }, 'input.0'],
        [{ ...entry('resp_1', acme), context: {} as unknown as ResponseItem[] }, 'context'],
      ]
      for (const [invalid, param] of cases)
        expect((await refusal(store.put(invalid))).param).toBe(param)
      expect(await store.get('resp_1', acme)).toBeNull()
    })

    it('deletes: the response and its items are gone, and a second delete answers false', async () => {
      const { store } = getFixture()
      await store.put(entry('resp_1', acme))
      await store.put(entry('resp_2', acme))
      expect(await store.delete('resp_1', acme)).toBe(true)
      expect(await store.get('resp_1', acme)).toBeNull()
      expect(await store.listInputItems('resp_1', acme, { limit: 20, order: 'asc' })).toBeNull()
      expect(await store.getItems(['msg_out_resp_1', 'msg_in_resp_1'], acme)).toEqual(new Map())
      expect(await store.delete('resp_1', acme)).toBe(false)
      expect(await store.delete('resp_never', acme)).toBe(false)
      expect(await store.get('resp_2', acme)).not.toBeNull()
    })

    it('reads an expired response as absent, at its expiry to the millisecond', async () => {
      const { store, clock } = getFixture()
      await store.put(entry('resp_1', acme, { expiresAt: start + 1_000 }))
      await store.put(entry('resp_kept', acme, { expiresAt: null }))
      await clock.advance(999)
      expect(await store.get('resp_1', acme)).not.toBeNull()
      expect((await store.getItems(['msg_in_resp_1'], acme)).size).toBe(1)
      await clock.advance(1)
      expect(await store.get('resp_1', acme)).toBeNull()
      expect(await store.getItems(['msg_in_resp_1', 'msg_out_resp_1'], acme)).toEqual(new Map())
      expect(await store.listInputItems('resp_1', acme, { limit: 20, order: 'asc' })).toBeNull()
      expect(await store.delete('resp_1', acme)).toBe(false)
      await clock.advance(365 * day)
      expect(await store.get('resp_kept', acme)).not.toBeNull()
    })

    it('resolves items across responses, the newest copy first, in the caller’s scope only', async () => {
      const { store } = getFixture()
      const call = {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'lookup',
        arguments: '{}',
      }
      const answer = { type: 'function_call_output', id: 'fco_1', call_id: 'call_1', output: '42' }
      const reasoning = { type: 'reasoning', id: 'rs_1', summary: [] }
      // The call is answered in resp_1's output, then replayed (with a different status) in resp_2's input.
      await store.put(entry('resp_1', acme, { output: [reasoning, call] }))
      await store.put(
        entry('resp_2', acme, {
          createdAt: start + 1_000,
          input: [{ ...call, status: 'completed' }, answer],
          output: [message('msg_2', 'assistant', 'It is 42.')],
        })
      )
      // Another tenant has items with the same ids: never seen by acme.
      await store.put(entry('resp_other', globex, { output: [{ ...call, name: 'theirs' }] }))

      const found = await store.getItems(
        ['fc_1', 'fco_1', 'rs_1', 'msg_2', 'msg_in_resp_1', 'msg_missing'],
        acme
      )
      expect(Object.fromEntries(found)).toEqual({
        fc_1: { ...call, status: 'completed' },
        fco_1: answer,
        rs_1: reasoning,
        msg_2: message('msg_2', 'assistant', 'It is 42.'),
        msg_in_resp_1: message('msg_in_resp_1', 'user', 'question of resp_1'),
      })
      expect(Object.fromEntries(await store.getItems(['fc_1'], globex))).toEqual({
        fc_1: { ...call, name: 'theirs' },
      })
      expect(await store.getItems(['fc_1'], master)).toEqual(new Map())
      expect(await store.getItems([], acme)).toEqual(new Map())

      // Deleting the newer response leaves the older copy.
      expect(await store.delete('resp_2', acme)).toBe(true)
      expect(Object.fromEntries(await store.getItems(['fc_1', 'fco_1'], acme))).toEqual({
        fc_1: call,
      })
    })

    it('prefers the output copy of an item over the input copy of the same response', async () => {
      const { store } = getFixture()
      const inputCopy = message('msg_x', 'user', 'input copy')
      const outputCopy = message('msg_x', 'assistant', 'output copy')
      await store.put(
        entry('resp_1', acme, { input: [inputCopy, inputCopy], output: [outputCopy] })
      )
      expect((await store.getItems(['msg_x'], acme)).get('msg_x')).toEqual(outputCopy)
    })

    it('pages input items as OpenAI lists them: after, limit, order, has_more', async () => {
      const { store } = getFixture()
      const input = Array.from({ length: 5 }, (_, index) =>
        message(`msg_${index + 1}`, 'user', `${index + 1}`)
      )
      await store.put(entry('resp_1', acme, { input }))
      const ids = async (query: Parameters<ResponseStore['listInputItems']>[2]) => {
        const page = await store.listInputItems('resp_1', acme, query)
        expect(page?.object).toBe('list')
        expect(page?.first_id).toBe(page?.data[0]?.id ?? null)
        expect(page?.last_id).toBe(page?.data.at(-1)?.id ?? null)
        return { ids: page?.data.map((item) => item.id), more: page?.has_more }
      }
      expect(await ids({ limit: 2, order: 'desc' })).toEqual({
        ids: ['msg_5', 'msg_4'],
        more: true,
      })
      expect(await ids({ limit: 2, order: 'desc', after: 'msg_4' })).toEqual({
        ids: ['msg_3', 'msg_2'],
        more: true,
      })
      expect(await ids({ limit: 2, order: 'desc', after: 'msg_2' })).toEqual({
        ids: ['msg_1'],
        more: false,
      })
      expect(await ids({ limit: 2, order: 'desc', after: 'msg_1' })).toEqual({
        ids: [],
        more: false,
      })
      expect(await ids({ limit: 3, order: 'asc' })).toEqual({
        ids: ['msg_1', 'msg_2', 'msg_3'],
        more: true,
      })
      expect(await ids({ limit: 2, order: 'asc', after: 'msg_3' })).toEqual({
        ids: ['msg_4', 'msg_5'],
        more: false,
      })
      expect(await ids({ limit: 100, order: 'asc' })).toEqual({
        ids: ['msg_1', 'msg_2', 'msg_3', 'msg_4', 'msg_5'],
        more: false,
      })
      const page = await store.listInputItems('resp_1', acme, { limit: 1, order: 'asc' })
      expect(page?.data).toEqual([input[0]])

      expect(
        (
          await refusal(
            store.listInputItems('resp_1', acme, { limit: 2, order: 'asc', after: 'msg_9' })
          )
        ).param
      ).toBe('after')
      expect(
        (await refusal(store.listInputItems('resp_1', acme, { limit: 0, order: 'asc' }))).param
      ).toBe('limit')
      expect(
        (await refusal(store.listInputItems('resp_1', acme, { limit: 101, order: 'asc' }))).param
      ).toBe('limit')
    })

    it('prunes only what expired, a slice at a time, items included', async () => {
      const { store } = getFixture()
      for (let index = 0; index < 5; index += 1)
        await store.put(
          entry(`resp_old_${index}`, index % 2 === 0 ? acme : master, {
            expiresAt: start + 1_000 + index,
          })
        )
      await store.put(entry('resp_later', acme, { expiresAt: start + 10 * day }))
      await store.put(entry('resp_forever', globex, { expiresAt: null }))
      // Pruned as of a later `now` than the store's clock, so what is pruned would still be visible otherwise.
      const now = start + 1_003
      expect(await store.pruneExpired(now, 2)).toBe(2)
      expect(await store.pruneExpired(now, 2)).toBe(2)
      expect(await store.pruneExpired(now, 2)).toBe(0)
      expect(await store.get('resp_old_4', acme)).not.toBeNull()
      expect(await store.pruneExpired(start + 1_004)).toBe(1)
      for (let index = 0; index < 5; index += 1) {
        const scope = index % 2 === 0 ? acme : master
        expect(await store.get(`resp_old_${index}`, scope)).toBeNull()
        expect(await store.getItems([`msg_in_resp_old_${index}`], scope)).toEqual(new Map())
      }
      expect(await store.get('resp_later', acme)).not.toBeNull()
      expect(await store.get('resp_forever', globex)).not.toBeNull()
      expect(await store.pruneExpired(start + 100 * day)).toBe(1)
      expect(await store.get('resp_forever', globex)).not.toBeNull()
      expect((await refusal(store.pruneExpired(start, 0))).param).toBe('limit')
    })

    it('appends output items learned later: in the response, indexed with its expiry, each id once', async () => {
      const { store, clock } = getFixture()
      const held = (id: string) => ({ id, type: 'gatehouse.held_upstream', provider: 'openai' })
      const inputCopy = message('msg_x', 'user', 'input copy')
      await store.put(
        entry('resp_bg', acme, { output: [], input: [inputCopy], expiresAt: start + day })
      )
      expect(await store.getItems(['msg_x'], acme)).toEqual(new Map([['msg_x', inputCopy]]))

      expect(await store.appendOutput('resp_bg', acme, [held('rs_1'), held('msg_x')])).toBe(true)
      // Again with one known and one new: only the new one is added; a repeated id in one call counts once.
      expect(
        await store.appendOutput('resp_bg', acme, [held('msg_x'), held('fc_2'), held('fc_2')])
      ).toBe(true)
      expect(await store.appendOutput('resp_bg', acme, [held('rs_1')])).toBe(true)
      expect(await store.appendOutput('resp_bg', acme, [])).toBe(true)

      const got = await store.get('resp_bg', acme)
      expect(got?.response.output).toEqual([held('rs_1'), held('msg_x'), held('fc_2')])
      // The rest of the entry is as it was put.
      expect(got?.input).toEqual([inputCopy])
      expect(got?.response.status).toBe('completed')
      // The output copy wins over the input copy of the same id, as for what `put` indexes.
      expect(Object.fromEntries(await store.getItems(['rs_1', 'msg_x', 'fc_2'], acme))).toEqual({
        rs_1: held('rs_1'),
        msg_x: held('msg_x'),
        fc_2: held('fc_2'),
      })
      // The items expire with their response.
      await clock.advance(day)
      expect(await store.getItems(['rs_1', 'fc_2'], acme)).toEqual(new Map())
      expect(await store.appendOutput('resp_bg', acme, [held('msg_late')])).toBe(false)
    })

    it('appends only in the scope that stored the response, changing nothing elsewhere', async () => {
      const { store } = getFixture()
      const added = [{ id: 'msg_new', type: 'message', role: 'assistant', content: [] }]
      await store.put(entry('resp_acme', acme, { output: [] }))
      await store.put(entry('resp_master', master, { output: [] }))
      for (const [id, others] of [
        ['resp_acme', [globex, master]],
        ['resp_master', [acme, globex]],
      ] as const)
        for (const other of others) expect(await store.appendOutput(id, other, added)).toBe(false)
      expect(await store.appendOutput('resp_never', acme, added)).toBe(false)
      expect((await store.get('resp_acme', acme))?.response.output).toEqual([])
      expect((await store.get('resp_master', master))?.response.output).toEqual([])
      for (const scope of [acme, globex, master])
        expect(await store.getItems(['msg_new'], scope)).toEqual(new Map())
    })

    it('refuses additions without ids or beyond the bound, naming the field and changing nothing', async () => {
      const { store } = getFixture()
      await store.put(entry('resp_1', acme, { output: [] }))
      const many = Array.from({ length: maxAppendedOutputItems + 1 }, (_, index) =>
        message(`msg_${index}`, 'assistant', '')
      )
      const cases: [unknown, string][] = [
        [{}, 'items'],
        [many, 'items'],
        [[message('msg_ok', 'assistant', ''), 'text'], 'items.1'],
        [[{ type: 'message' }], 'items.0.id'],
        [[{ id: 'x'.repeat(201) }], 'items.0.id'],
      ]
      for (const [items, param] of cases)
        expect(
          (await refusal(store.appendOutput('resp_1', acme, items as ResponseItem[]))).param
        ).toBe(param)
      expect((await store.get('resp_1', acme))?.response.output).toEqual([])
      expect(await store.getItems(['msg_ok', 'msg_0'], acme)).toEqual(new Map())
      // The bound itself is accepted.
      expect(await store.appendOutput('resp_1', acme, many.slice(1))).toBe(true)
      expect((await store.get('resp_1', acme))?.response.output).toHaveLength(
        maxAppendedOutputItems
      )
    })

    it('loses no item when appends of different items to one response race', async () => {
      const { store } = getFixture()
      await store.put(entry('resp_1', acme, { output: [] }))
      const ids = Array.from({ length: 8 }, (_, index) => `msg_${index}`)
      const results = await Promise.all(
        ids.map((id) => store.appendOutput('resp_1', acme, [message(id, 'assistant', id)]))
      )
      expect(results).toEqual(ids.map(() => true))
      const output = (await store.get('resp_1', acme))?.response.output as ResponseItem[]
      expect(output.map((item) => item.id).sort()).toEqual(ids)
      expect((await store.getItems(ids, acme)).size).toBe(ids.length)
    })

    it('round-trips a conversation of a megabyte', async () => {
      const { store } = getFixture()
      const context = Array.from({ length: 256 }, (_, index) =>
        message(
          `msg_${index}`,
          index % 2 === 0 ? 'user' : 'assistant',
          `${index} ${'x'.repeat(4_096)}`
        )
      )
      expect(JSON.stringify(context).length).toBeGreaterThan(1_048_576)
      const stored = entry('resp_big', acme, { context, input: context.slice(-1) })
      await store.put(stored)
      expect(await store.get('resp_big', acme)).toEqual(stored)
    })

    it('keeps what a background response owes until one caller claims it, in its scope only', async () => {
      const { store } = getFixture()
      const owing = background('resp_bg', acme)
      await store.put(owing)
      expect(await store.get('resp_bg', acme)).toEqual(owing)
      await store.put(entry('resp_plain', acme))
      expect(await store.get('resp_plain', acme)).not.toHaveProperty('pendingUsage')

      // Another scope, or a response that owes nothing: nothing to claim, and nothing changes.
      expect(await store.claimSettlement('resp_bg', globex)).toBeNull()
      expect(await store.claimSettlement('resp_bg', master)).toBeNull()
      expect(await store.claimSettlement('resp_plain', acme)).toBeNull()
      expect(await store.claimSettlement('resp_never', acme)).toBeNull()

      expect(await store.claimSettlement('resp_bg', acme)).toEqual(owing.pendingUsage)
      // Once: settled, the record stays (retrieve, chains) and owes nothing more.
      expect(await store.claimSettlement('resp_bg', acme)).toBeNull()
      const { pendingUsage: _owed, ...settled } = owing
      expect(await store.get('resp_bg', acme)).toEqual(settled)
      // Not handed to pollers any more.
      expect(
        await store.takeDuePolls({
          now: start + day,
          leaseUntil: start + day + 60_000,
          createdSince: 0,
          limit: 10,
        })
      ).toEqual([])
    })

    it('refuses pending usage that is not an event and a reservation, and a poll time that is not one', async () => {
      const { store } = getFixture()
      const cases: [StoredResponse, string, number?][] = [
        [background('resp_1', acme, { pendingUsage: {} as PendingUsage }), 'pendingUsage.event'],
        [
          background('resp_1', acme, {
            pendingUsage: { ...pendingUsage('r', null), reservation: 'x' as never },
          }),
          'pendingUsage.reservation',
        ],
        [background('resp_1', acme), 'pollAt', 1.5],
      ]
      for (const [invalid, param, pollAt] of cases)
        expect((await refusal(store.put(invalid, { pollAt }))).param).toBe(param)
      expect(await store.get('resp_1', acme)).toBeNull()
    })

    it('hands due polls out once per poll time: due, owing, recent and unexpired ones, in every scope', async () => {
      const { store, clock } = getFixture()
      const query = (now: number, limit = 10) => ({
        now,
        leaseUntil: now + 60_000,
        createdSince: start - 3_600_000,
        limit,
      })
      const ids = async (now: number, limit?: number) =>
        (await store.takeDuePolls(query(now, limit))).map((poll) => poll.id).sort()
      await store.put(background('resp_a', acme), { pollAt: start + 1_000 })
      await store.put(background('resp_b', globex), { pollAt: start + 2_000 })
      await store.put(background('resp_master', master))
      await store.put(background('resp_old', acme, { createdAt: start - 7_200_000 }))
      await store.put(background('resp_gone', acme, { expiresAt: start + 500 }))
      await store.put(entry('resp_plain', acme))

      // Due at once by default; one not due yet waits; too old and expired ones are left out.
      expect(await ids(start + 999)).toEqual(['resp_master'])
      const taken = await store.takeDuePolls(query(start + 2_000))
      expect(taken.map((poll) => poll.id).sort()).toEqual(['resp_a', 'resp_b'])
      expect(taken.find((poll) => poll.id === 'resp_b')).toEqual({
        id: 'resp_b',
        tenantId: 'ten_globex',
        provider: 'openai',
        createdAt: start,
      })
      // Leased: nobody gets them again before the lease ends, then anyone may.
      expect(await ids(start + 61_000)).toEqual(['resp_master'])
      expect(await ids(start + 62_000)).toEqual(['resp_a', 'resp_b'])

      // A poll time set after a poll; `null`: never again (a retrieve may still settle it).
      await store.schedulePoll('resp_a', start + 200_000)
      await store.schedulePoll('resp_b', null)
      await store.schedulePoll('resp_plain', start)
      expect(await ids(start + 199_999)).toEqual(['resp_master'])
      expect(await ids(start + 200_000)).toEqual(['resp_a'])
      expect(await store.claimSettlement('resp_b', globex)).not.toBeNull()

      // A limit takes those due longest first.
      await store.schedulePoll('resp_a', start + 300_000)
      await store.schedulePoll('resp_master', start + 300_001)
      expect(await ids(start + 400_000, 1)).toEqual(['resp_a'])
      // Still owing and due again once their leases end; the expired and the too old never.
      await clock.advance(day)
      expect(await ids(start + 2 * day)).toEqual(['resp_a', 'resp_master'])
    })

    it('settles once when claims race, across processes', async () => {
      const { store, claimElsewhere } = getFixture()
      const ids = Array.from({ length: 30 }, (_, index) => `resp_race_${index}`)
      for (const id of ids) await store.put(background(id, acme, { expiresAt: null }))
      const other = claimElsewhere(ids, acme)
      await other.ready
      other.go()
      const ours = await Promise.all(ids.map((id) => store.claimSettlement(id, acme)))
      const theirs = (await other.result) as string[]
      const mine = ids.filter((_, index) => ours[index] !== null)
      expect([...mine, ...theirs].sort()).toEqual([...ids].sort())
      expect(mine.filter((id) => theirs.includes(id))).toEqual([])
    })

    it('hands a due poll to one poller only when pollers race, across processes', async () => {
      const { store, takeElsewhere } = getFixture()
      const ids = Array.from({ length: 30 }, (_, index) => `resp_poll_${index}`)
      for (const id of ids) await store.put(background(id, acme, { expiresAt: null }))
      const query = { now: start, leaseUntil: start + 60_000, createdSince: 0, limit: 4 }
      const queries = Array.from({ length: 6 }, () => query)
      const other = takeElsewhere(queries)
      await other.ready
      other.go()
      const ours = (await Promise.all(queries.map((each) => store.takeDuePolls(each))))
        .flat()
        .map((poll) => poll.id)
      const theirs = (await other.result) as string[]
      const all = [...ours, ...theirs]
      expect(new Set(all).size).toBe(all.length)
      expect(all.length).toBeGreaterThan(0)
      // What neither took is still due; what they took is not.
      const left = (await store.takeDuePolls({ ...query, limit: 100 })).map((poll) => poll.id)
      expect([...all, ...left].sort()).toEqual([...ids].sort())
    })

    it('loses nothing when two writers put different responses at once', async () => {
      const { store, putElsewhere } = getFixture()
      const batch = (prefix: string, scope: ResponseScope): StoredResponse[] =>
        Array.from({ length: 40 }, (_, index) =>
          entry(`resp_${prefix}_${index}`, scope, {
            expiresAt: null,
            input: [
              message(`msg_${prefix}_${index}`, 'user', 'q'),
              message('msg_shared', 'user', prefix),
            ],
          })
        )
      const ours = batch('ours', acme)
      const theirs = batch('theirs', acme)
      const other = putElsewhere(theirs)
      await other.ready
      other.go()
      await Promise.all(ours.map((stored) => store.put(stored)))
      expect(await other.result).toBe(theirs.length)
      for (const stored of [...ours, ...theirs])
        expect(await store.get(stored.id, acme)).toEqual(stored)
      const items = await store.getItems(
        [...ours, ...theirs].map((stored) => `msg_${stored.id.slice(5)}`),
        acme
      )
      expect(items.size).toBe(80)
      expect((await store.getItems(['msg_shared'], acme)).size).toBe(1)
    })
  },
})
