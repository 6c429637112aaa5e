import { describe, expect, it } from 'vitest'
import { createFakeClock } from '../../../test/helpers/fake-clock.ts'
import type { StoredResponse } from '../response-store.ts'
import { createMemoryResponseStore } from './memory-response-store.ts'

const scope = { tenantId: 'ten_a' }

/** A response whose JSON (response, input, context and its one item) is about `size` characters. */
const entry = (id: string, size: number): StoredResponse => {
  const item = { type: 'message', id: `msg_${id}`, role: 'user', text: 'x'.repeat(size / 3) }
  return {
    id,
    tenantId: scope.tenantId,
    createdAt: 0,
    expiresAt: null,
    model: 'm',
    provider: null,
    response: { id, output: [] },
    input: [item],
    context: [item],
  }
}

describe('memory response store bound', () => {
  it('forgets the least recently used responses, and their items, once over its size', async () => {
    const store = createMemoryResponseStore({ clock: createFakeClock(), maxChars: 10_000 })
    for (const id of ['resp_1', 'resp_2', 'resp_3']) await store.put(entry(id, 3_000))
    // Reading resp_1 makes resp_2 the least recently used.
    expect(await store.get('resp_1', scope)).not.toBeNull()
    await store.put(entry('resp_4', 3_000))
    expect(await store.get('resp_2', scope)).toBeNull()
    expect(await store.getItems(['msg_resp_2'], scope)).toEqual(new Map())
    for (const id of ['resp_1', 'resp_3', 'resp_4'])
      expect(await store.get(id, scope)).not.toBeNull()
    // An item lookup is a use too: resp_3 stays, resp_1 goes.
    expect((await store.getItems(['msg_resp_3'], scope)).size).toBe(1)
    await store.put(entry('resp_5', 3_000))
    expect(await store.get('resp_1', scope)).toBeNull()
    expect(await store.get('resp_3', scope)).not.toBeNull()
  })

  it('keeps nothing of a response larger than the whole bound, and forgets nothing else for it', async () => {
    const store = createMemoryResponseStore({ clock: createFakeClock(), maxChars: 10_000 })
    await store.put(entry('resp_small', 300))
    await store.put(entry('resp_huge', 30_000))
    expect(await store.get('resp_huge', scope)).toBeNull()
    expect(await store.getItems(['msg_resp_huge'], scope)).toEqual(new Map())
    expect(await store.get('resp_small', scope)).not.toBeNull()
  })

  it('counts output items appended later toward the bound: growing a response pushes the oldest out', async () => {
    const store = createMemoryResponseStore({ clock: createFakeClock(), maxChars: 10_000 })
    for (const id of ['resp_1', 'resp_2']) await store.put(entry(id, 3_000))
    const item = { type: 'message', id: 'msg_late', role: 'assistant', text: 'x'.repeat(2_000) }
    expect(await store.appendOutput('resp_2', scope, [item])).toBe(true)
    // resp_2 now holds the item twice (in its output and indexed): over the bound, resp_1 goes.
    expect(await store.get('resp_1', scope)).toBeNull()
    expect((await store.get('resp_2', scope))?.response.output).toEqual([item])
    expect((await store.getItems(['msg_late'], scope)).get('msg_late')).toEqual(item)
  })
})
