import { describe, expect, it } from 'vitest'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { createBatchedStoreWriter } from './batched-store-writer.ts'

/** A store that records what it was given and fails while `failing` is set. */
const createStore = () => {
  const batches: string[][] = []
  const store = {
    batches,
    failing: false,
    write: async (batch: readonly string[]): Promise<void> => {
      if (store.failing) throw new Error('connection refused')
      batches.push([...batch])
    },
  }
  return store
}

const setup = (overrides: { batchSize?: number; maxBuffered?: number } = {}) => {
  const clock = createFakeClock()
  const logger = createRecordingLogger()
  const store = createStore()
  const writer = createBatchedStoreWriter<string>({
    write: (batch) => store.write(batch),
    clock,
    logger,
    what: 'usage events',
    batchSize: overrides.batchSize ?? 3,
    flushIntervalMs: 1_000,
    maxBuffered: overrides.maxBuffered ?? 100,
    initialRetryDelayMs: 100,
    maxRetryDelayMs: 800,
  })
  return { clock, logger, store, writer }
}

describe('createBatchedStoreWriter', () => {
  it('writes a full batch at once and a partial one after flushIntervalMs', async () => {
    const { clock, store, writer } = setup()
    for (const record of ['a', 'b', 'c', 'd']) writer.add(record)
    await clock.advance(0)
    expect(store.batches).toEqual([['a', 'b', 'c']])
    await clock.advance(999)
    expect(store.batches).toHaveLength(1)
    await clock.advance(1)
    expect(store.batches).toEqual([['a', 'b', 'c'], ['d']])
    expect(writer.stats()).toMatchObject({ buffered: 0, written: 4, dropped: 0 })
  })

  it('keeps records a write failed on, retries with doubling delays in order, and logs the outage once', async () => {
    const { clock, logger, store, writer } = setup()
    store.failing = true
    for (const record of ['a', 'b', 'c', 'd', 'e']) writer.add(record)
    await clock.advance(0)
    // Retries at +100, +200, +400 ms after each failure, then succeed.
    await clock.advance(100)
    await clock.advance(200)
    expect(writer.stats().failedWrites).toBe(3)
    store.failing = false
    await clock.advance(400)
    await clock.advance(1_000)
    expect(store.batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ])
    expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'info'])
    expect(logger.lines[1].fields).toMatchObject({ dropped: 0, buffered: 2 })
  })

  it('bounds the queue while the store is out of reach: drops the oldest, counts them, logs once', async () => {
    const { clock, logger, store, writer } = setup({ batchSize: 2, maxBuffered: 4 })
    store.failing = true
    for (const record of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) writer.add(record)
    await clock.advance(0)
    expect(writer.stats()).toMatchObject({ buffered: 4, dropped: 3 })
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(1)
    store.failing = false
    expect(await writer.flush()).toBe(0)
    expect(store.batches.flat()).toEqual(['d', 'e', 'f', 'g'])
  })

  it('flush writes everything now, and with a deadline gives up on a store that keeps failing', async () => {
    const { clock, store, writer } = setup()
    writer.add('a')
    expect(await writer.flush()).toBe(0)
    expect(store.batches).toEqual([['a']])
    store.failing = true
    writer.add('b')
    writer.add('c')
    const left = writer.flush({ deadlineMs: 1_000 })
    expect(await clock.settle(left)).toBe(2)
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBeLessThanOrEqual(1_000)
  })

  it('a late answer from a failing store does not lose records dropped meanwhile', async () => {
    const { clock, store, writer } = setup({ batchSize: 2, maxBuffered: 3 })
    let release: () => void = () => {}
    store.write = async (batch) => {
      await new Promise<void>((resolve) => (release = resolve))
      store.batches.push([...batch])
    }
    writer.add('a')
    writer.add('b')
    await clock.advance(0)
    // While [a, b] is being written, the queue overflows and drops a.
    writer.add('c')
    writer.add('d')
    release()
    await clock.advance(0)
    expect(writer.stats()).toMatchObject({ dropped: 1 })
    release()
    expect(await clock.settle(writer.flush())).toBe(0)
    expect(store.batches.flat()).toEqual(['a', 'b', 'c', 'd'])
  })
})
