/**
 * A piped `ChunkReader` read back as a pulled one, so the cases written for `read()` also run through `pipe()`: the
 * pipe starts on the first read, chunks the test has not read yet wait in a queue, and the sink answers `false`
 * (pause) while that queue is not empty, resuming the source once a read empties it. `writes` counts what the sink
 * was given, to check how chunks were batched.
 */
import type { ChunkReader, ChunkSink, PipeControl } from '../../providers/spec/provider-adapter.ts'

type Item<T> = { step: ReadableStreamReadResult<T> } | { error: unknown }

export type PipedReader<T> = ChunkReader<T> & {
  /** How many times the sink's `write` was called, and how many of those answered `false`. */
  readonly writes: { total: number; refused: number }
}

export const readPiped = <T>(source: ChunkReader<T>): PipedReader<T> => {
  if (source.pipe === undefined) throw new TypeError('This reader cannot be piped.')
  const queue: Item<T>[] = []
  let waiting: {
    resolve: (step: ReadableStreamReadResult<T>) => void
    reject: (error: unknown) => void
  } | null = null
  let control: PipeControl | null = null
  let paused = false
  const writes = { total: 0, refused: 0 }
  const settle = (item: Item<T>): void => {
    const reader = waiting
    if (reader === null) {
      queue.push(item)
      return
    }
    waiting = null
    if ('error' in item) reader.reject(item.error)
    else reader.resolve(item.step)
  }
  const sink: ChunkSink<T> = {
    write(chunk) {
      writes.total += 1
      settle({ step: { done: false, value: chunk } })
      paused = queue.length > 0
      if (paused) writes.refused += 1
      return !paused
    },
    close: () => settle({ step: { done: true, value: undefined } }),
    error: (error) => settle({ error }),
  }
  return {
    writes,
    read() {
      control ??= source.pipe!(sink)
      const item = queue.shift()
      if (item === undefined) {
        const next = new Promise<ReadableStreamReadResult<T>>((resolve, reject) => {
          waiting = { resolve, reject }
        })
        if (paused) {
          paused = false
          control.resume()
        }
        return next
      }
      if ('error' in item) {
        queue.unshift(item)
        return Promise.reject(item.error)
      }
      if (item.step.done) {
        queue.unshift(item)
        return Promise.resolve(item.step)
      }
      return Promise.resolve(item.step)
    },
    cancel: (reason) => {
      // As a stream reader does: the pending read and every later one are done.
      queue.length = 0
      queue.push({ step: { done: true, value: undefined } })
      waiting?.resolve({ done: true, value: undefined })
      waiting = null
      return source.cancel(reason)
    },
  }
}
