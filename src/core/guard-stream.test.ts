import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { readAll, streamOf } from '../../test/helpers/fake-deps.ts'
import { pipeableReader } from '../../test/helpers/pipeable-reader.ts'
import { readPiped } from '../../test/helpers/read-piped.ts'
import type { ChunkReader } from '../../providers/spec/provider-adapter.ts'
import { createAttemptScope } from './deadline.ts'
import { guardReader, peekFirstChunk } from './guard-stream.ts'

type Mode = {
  /** The upstream reader as the guard gets it. */
  upstream: <T>(reader: ChunkReader<T>) => ChunkReader<T>
  /** The guarded reader as the test reads it. */
  consume: <T>(guarded: ChunkReader<T>) => ChunkReader<T>
}

const modes: [string, Mode][] = [
  ['read()', { upstream: (reader) => reader, consume: (guarded) => guarded }],
  [
    'pipe()',
    { upstream: (reader) => pipeableReader(reader), consume: (guarded) => readPiped(guarded) },
  ],
]

const setupFor =
  (mode: Mode) =>
  (chunks: string[], options: { hold?: boolean; idleMs?: number } = {}) => {
    const clock = createFakeClock()
    const controller = new AbortController()
    const source = streamOf(chunks, { hold: options.hold })
    const ended: string[] = []
    const guarded = guardReader({
      reader: mode.upstream(source.getReader()),
      clock,
      idleMs: options.idleMs ?? 1_000,
      signal: controller.signal,
      providerId: 'openai',
      onEnd: () => ended.push('end'),
    })
    return { clock, controller, source, guarded: mode.consume(guarded), ended }
  }

describe.each(modes)('guardReader, consumed through %s', (_name, mode) => {
  const setup = setupFor(mode)

  it('passes every chunk through and ends cleanly, leaving no timer behind', async () => {
    const { clock, guarded, ended } = setup(['a', 'b', 'c'])
    expect(await readAll(guarded)).toEqual(['a', 'b', 'c'])
    expect(ended).toEqual(['end'])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('replays a peeked first chunk before the rest', async () => {
    const clock = createFakeClock()
    const scope = createAttemptScope({ clock, firstByteMs: 1_000, providerId: 'p' })
    const { reader, first } = await peekFirstChunk({
      reader: streamOf(['first', 'second']).getReader(),
      scope,
    })
    scope.firstByteReceived()
    const guarded = guardReader({
      reader: mode.upstream(reader),
      first,
      clock,
      idleMs: 1_000,
      signal: scope.signal,
      providerId: 'p',
    })
    expect(await readAll(mode.consume(guarded))).toEqual(['first', 'second'])
  })

  it('errors the stream with a 504 timeout and cancels the upstream when no chunk arrives for idleMs', async () => {
    const { clock, source, guarded, ended } = setup(['a'], { hold: true, idleMs: 5_000 })
    const reader = guarded
    expect(await reader.read()).toEqual({ done: false, value: 'a' })
    const next = reader.read()
    next.catch(() => {})
    await clock.advance(4_999)
    expect(source.cancelled()).toBe(false)
    await clock.advance(1)
    const error = await next.then(
      () => null,
      (caught: unknown) => caught
    )
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ kind: 'timeout', status: 504, providerId: 'openai' })
    expect(source.cancelled()).toBe(true)
    expect(ended).toEqual(['end'])
  })

  it('lets a slow but steady stream through, with one idle timer at a time rather than one per chunk', async () => {
    const clock = createFakeClock()
    let push: (chunk: string | null) => void = () => {}
    const source = new ReadableStream<string>({
      start(controller) {
        push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(chunk))
      },
    })
    const guarded = mode.consume(
      guardReader({
        reader: mode.upstream(source.getReader()),
        clock,
        idleMs: 1_000,
        signal: new AbortController().signal,
        providerId: 'p',
      })
    )
    const received: string[] = []
    for (const chunk of ['a', 'b', 'c', 'd', 'e']) {
      const next = guarded.read()
      await clock.advance(900)
      expect(clock.pendingTimers()).toBeLessThanOrEqual(1)
      push(chunk)
      const result = await next
      if (!result.done) received.push(result.value)
    }
    push(null)
    expect(await guarded.read()).toEqual({ done: true, value: undefined })
    expect(received).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('errors the stream with the signal reason (deadline or client gone) and cancels the upstream', async () => {
    const { controller, source, guarded, ended } = setup(['a'], { hold: true })
    const reader = guarded
    await reader.read()
    const reason = new ProviderError({ kind: 'timeout', status: 504, message: 'total timeout' })
    controller.abort(reason)
    await expect(reader.read()).rejects.toBe(reason)
    expect(source.cancelled()).toBe(true)
    expect(ended).toEqual(['end'])
  })

  it('cancelling the guarded stream cancels the upstream and releases its timers', async () => {
    const { clock, source, guarded, ended } = setup(['a'], { hold: true })
    const reader = guarded
    await reader.read()
    const pending = reader.read()
    await reader.cancel('client went away')
    await pending
    expect(source.cancelled()).toBe(true)
    expect(ended).toEqual(['end'])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('passes an upstream mid-stream error through', async () => {
    const clock = createFakeClock()
    const failure = new ProviderError({ kind: 'bad-response', status: 502, message: 'broken SSE' })
    let sent = false
    const source = new ReadableStream<string>({
      pull(controller) {
        if (!sent) {
          sent = true
          controller.enqueue('a')
        } else controller.error(failure)
      },
    })
    const guarded = mode.consume(
      guardReader({
        reader: mode.upstream(source.getReader()),
        clock,
        idleMs: 1_000,
        signal: new AbortController().signal,
        providerId: 'p',
      })
    )
    await expect(readAll(guarded)).rejects.toBe(failure)
    expect(clock.pendingTimers()).toBe(0)
  })
})

describe.each(modes)('guardReader with judgeEnd, consumed through %s', (_name, mode) => {
  const guardedWith = (
    judgeEnd: () => ReturnType<NonNullable<Parameters<typeof guardReader>[0]['judgeEnd']>>
  ) => {
    const ends: unknown[] = []
    const guarded = guardReader({
      reader: mode.upstream(streamOf(['a', 'b']).getReader()),
      clock: createFakeClock(),
      idleMs: 1_000,
      signal: new AbortController().signal,
      providerId: 'openai',
      onEnd: (end) => ends.push(end),
      judgeEnd,
    })
    return { guarded: mode.consume(guarded), ends }
  }

  it("fails a clean end judged short of the format, after every chunk, as the upstream's fault", async () => {
    const cut = new ProviderError({ kind: 'bad-response', status: 502, message: 'cut' })
    const { guarded, ends } = guardedWith(() => ({ fail: cut }))
    expect(await guarded.read()).toEqual({ done: false, value: 'a' })
    expect(await guarded.read()).toEqual({ done: false, value: 'b' })
    await expect(guarded.read()).rejects.toBe(cut)
    expect(ends).toEqual([{ outcome: 'broken', error: cut, upstreamFault: true }])
  })

  it('ends a stream that reported its own failure as it is, reporting the end broken', async () => {
    const inBand = new ProviderError({ kind: 'http', status: 529, message: 'Overloaded' })
    const { guarded, ends } = guardedWith(() => ({ report: inBand }))
    expect(await readAll(guarded)).toEqual(['a', 'b'])
    expect(ends).toEqual([{ outcome: 'broken', error: inBand, upstreamFault: true }])
  })

  it('ends a complete stream as completed', async () => {
    const { guarded, ends } = guardedWith(() => null)
    expect(await readAll(guarded)).toEqual(['a', 'b'])
    expect(ends).toEqual([{ outcome: 'completed' }])
  })
})

describe('guardReader, read', () => {
  const setup = setupFor(modes[0][1])

  it('does not count time the consumer spends not reading', async () => {
    const { clock, source, guarded, ended } = setup(['a'], { hold: true, idleMs: 1_000 })
    await guarded.read()
    await clock.advance(10_000)
    expect(source.cancelled()).toBe(false)
    expect(ended).toEqual([])
  })
})

describe('guardReader, piped', () => {
  const setup = setupFor(modes[1][1])

  it('does not count time while the sink has asked for a pause, and counts again once it resumes', async () => {
    const clock = createFakeClock()
    const source = streamOf(['a', 'b'], { hold: true })
    const ended: string[] = []
    const guarded = guardReader({
      reader: pipeableReader(source.getReader()),
      clock,
      idleMs: 1_000,
      signal: new AbortController().signal,
      providerId: 'p',
      onEnd: () => ended.push('end'),
    })
    const received: string[] = []
    const errors: unknown[] = []
    const control = guarded.pipe!({
      write: (chunk) => {
        received.push(chunk)
        return false
      },
      close: () => ended.push('close'),
      error: (error) => errors.push(error),
    })
    await clock.advance(0)
    expect(received).toEqual(['a'])
    await clock.advance(10_000)
    expect(errors).toEqual([])
    control.resume()
    await clock.advance(0)
    expect(received).toEqual(['a', 'b'])
    control.resume()
    await clock.advance(999)
    expect(errors).toEqual([])
    await clock.advance(1)
    expect(errors).toMatchObject([{ kind: 'timeout', status: 504 }])
    expect(source.cancelled()).toBe(true)
    expect(ended).toEqual(['end'])
  })

  it('tells the sink nothing more once cancelled', async () => {
    const { clock, guarded, source } = setup(['a'], { hold: true })
    expect(await guarded.read()).toEqual({ done: false, value: 'a' })
    await guarded.cancel('client went away')
    await clock.advance(5_000)
    expect(source.cancelled()).toBe(true)
    expect(await guarded.read()).toEqual({ done: true, value: undefined })
    expect(clock.pendingTimers()).toBe(0)
  })
})

describe('peekFirstChunk', () => {
  it('gives up with a retryable timeout when the first chunk is later than firstByteMs', async () => {
    const clock = createFakeClock()
    const scope = createAttemptScope({ clock, firstByteMs: 2_000, providerId: 'p' })
    const source = streamOf<string>([], { hold: true })
    const peek = peekFirstChunk({ reader: source.getReader(), scope })
    await expect(clock.settle(peek)).rejects.toMatchObject({
      kind: 'timeout',
      status: 504,
      retryable: true,
    })
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBe(2_000)
    expect(source.cancelled()).toBe(true)
  })
})
