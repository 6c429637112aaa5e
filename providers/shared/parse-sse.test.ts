import { describe, expect, it } from 'vitest'
import type { ChunkReader } from '../spec/provider-adapter.ts'
import {
  parseSseStream,
  readSseEvents,
  SseEventTooLarge,
  SseParser,
  type SseEvent,
} from './parse-sse.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A reader over `pieces`, then failing with `failure` if given; counts cancels. */
const readerOf = (pieces: Uint8Array[], failure?: Error) => {
  let index = 0
  const reader: ChunkReader<Uint8Array> & { cancelled: unknown[] } = {
    cancelled: [],
    read: () => {
      if (index < pieces.length) return Promise.resolve({ done: false, value: pieces[index++] })
      if (failure !== undefined) return Promise.reject(failure)
      return Promise.resolve({ done: true, value: undefined })
    },
    cancel: (reason) => {
      reader.cancelled.push(reason)
      return Promise.resolve()
    },
  }
  return reader
}

const readAll = async (events: ChunkReader<SseEvent>): Promise<SseEvent[]> => {
  const out: SseEvent[] = []
  for (;;) {
    const { done, value } = await events.read()
    if (done) return out
    out.push(value)
  }
}

describe('SseParser', () => {
  it('reads events split anywhere, with CRLF, CR, comments and multi-line data', () => {
    const text =
      ': keep-alive\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata: {"x":1}\rid: 7\r\r' +
      'event: b\ndata:no-space\n\n'
    const whole = new SseParser().push(text)
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser()
      const events = [...parser.push(bytes(text.slice(0, cut))), ...parser.push(text.slice(cut))]
      expect(events, `cut at ${cut}`).toEqual(whole)
    }
    expect(whole).toEqual([
      { event: 'a', data: 'one\ntwo', id: undefined },
      { event: undefined, data: '{"x":1}', id: '7' },
      { event: 'b', data: 'no-space', id: '7' },
    ])
  })

  it('decodes a multi-byte character split between chunks', () => {
    const encoded = bytes('data: héllo 🌍\n\n')
    const parser = new SseParser()
    const events = [...parser.push(encoded.subarray(0, 8)), ...parser.push(encoded.subarray(8))]
    expect(events).toEqual([{ event: undefined, data: 'héllo 🌍', id: undefined }])
  })

  it('flushes an event the body ended in without its blank line', () => {
    const parser = new SseParser()
    expect(parser.push('data: cut')).toEqual([])
    expect(parser.end()).toEqual([{ event: undefined, data: 'cut', id: undefined }])
  })
})

describe('readSseEvents', () => {
  it('reads the events of a reader one at a time, as they complete, then the flushed rest', async () => {
    const source = readerOf([bytes('data: 1\n\ndata: 2\n\nda'), bytes('ta: 3\n\ndata: 4')])
    expect((await readAll(readSseEvents(source))).map((event) => event.data)).toEqual([
      '1',
      '2',
      '3',
      '4',
    ])
  })

  it('reads a Web stream as well', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes('event: ping\ndata: {}\n\n'))
        controller.close()
      },
    })
    expect(await readAll(readSseEvents(body))).toEqual([
      { event: 'ping', data: '{}', id: undefined },
    ])
  })

  it('gives the events read before a failure, then rejects with it', async () => {
    const failure = new Error('socket reset')
    const events = readSseEvents(readerOf([bytes('data: 1\n\n')], failure))
    expect(await events.read()).toEqual({
      done: false,
      value: { event: undefined, data: '1', id: undefined },
    })
    await expect(events.read()).rejects.toBe(failure)
  })

  it('cancels its source', async () => {
    const source = readerOf([bytes('data: 1\n\n')])
    const reason = new Error('client left')
    await readSseEvents(source).cancel(reason)
    expect(source.cancelled).toEqual([reason])
  })

  it('stays done once the source ended', async () => {
    const events = readSseEvents(readerOf([]))
    expect((await events.read()).done).toBe(true)
    expect((await events.read()).done).toBe(true)
  })
})

describe('parseSseStream', () => {
  it('is the same events as a Web stream, and cancelling it cancels the body', async () => {
    let cancelled: unknown
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes('data: 1\n\n'))
      },
      cancel(reason) {
        cancelled = reason
      },
    })
    const reader = parseSseStream(body).getReader()
    expect((await reader.read()).value?.data).toBe('1')
    await reader.cancel('stop')
    expect(cancelled).toBe('stop')
  })
})

describe('an event that never ends', () => {
  it('is dropped at the bound, once, and the events after it are read', () => {
    const parser = new SseParser(1_000)
    expect(parser.push('data: {"a":1}\n\ndata: ')).toEqual([
      { event: undefined, data: '{"a":1}', id: undefined },
    ])
    let thrown = 0
    for (let index = 0; index < 50; index += 1)
      try {
        parser.push('x'.repeat(100))
      } catch (error) {
        expect(error).toBeInstanceOf(SseEventTooLarge)
        thrown += 1
      }
    expect(thrown).toBe(1)
    expect(parser.push('xx\n\ndata: after\n\n')).toEqual([
      { event: undefined, data: 'after', id: undefined },
    ])
    // Data lines that add up past the bound count too.
    expect(() => {
      for (let index = 0; index < 20; index += 1) parser.push(`data: ${'y'.repeat(100)}\n`)
    }).toThrow(SseEventTooLarge)
    expect(parser.push('\n\ndata: again\n\n')).toEqual([
      { event: undefined, data: 'again', id: undefined },
    ])
  })

  it('is searched once for its line end, not again on every push', () => {
    const parser = new SseParser()
    const piece = 'z'.repeat(1_024)
    const startedAt = performance.now()
    parser.push('data: ')
    // 12 MiB in 1 KiB pieces: searching the whole line again on each push would scan 75 GB.
    for (let index = 0; index < 12 * 1024; index += 1) parser.push(piece)
    expect(parser.push('\n\n')[0].data.length).toBe(12 * 1024 * 1024)
    expect(performance.now() - startedAt).toBeLessThan(5_000)
  })

  it('fails the body it is read from, and cancels it', async () => {
    let cancelled: unknown
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes('x'.repeat(1024 * 1024)))
      },
      cancel(reason) {
        cancelled = reason
      },
    })
    const events = readSseEvents(body)
    await expect(events.read()).rejects.toBeInstanceOf(SseEventTooLarge)
    expect(cancelled).toBeInstanceOf(SseEventTooLarge)
  })
})
