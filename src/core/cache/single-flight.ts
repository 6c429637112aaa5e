/**
 * Single-flight, in one process: while the first request for a cache key (the leader) is in flight, identical
 * requests (followers) wait for its answer instead of going upstream. A flight carries the leader's answer as
 * canonical chunks while they arrive (`push`), then the complete answer (`complete`) or nothing (`fail`).
 *
 * - A non-streamed follower waits for the end (`settled`): the answer, or `null` when the leader failed, and then it
 *   goes upstream itself (it never receives the leader's error).
 * - A streamed follower reads the chunks as they arrive, from the first (`reader`). If the leader fails before the
 *   first chunk, the follower goes upstream itself; if it fails later, the reader throws `leaderBrokeOff`, and the
 *   follower goes upstream itself from there (`resume-follower.ts`).
 *
 * A leader whose answer came whole (not streamed) completes without chunks: streamed followers then get the chunks of
 * the complete answer (`chunksOfAnswer`). The flight stays listed until the answer is stored, so a request arriving
 * meanwhile is answered from it rather than missing the store.
 */
import type { ChatChunk, ChatResult, Usage } from '../../../providers/spec/chat-types.ts'
import type { ChunkReader } from '../../../providers/spec/provider-adapter.ts'
import { GatewayError } from '../errors.ts'
import { chunksOfAnswer } from './answer-chunks.ts'

type FlightState = 'open' | 'done' | 'failed'

/**
 * An answer kept as the body the upstream sent, where it has no canonical form and no stream to replay (embeddings):
 * replayed byte for byte, to requests that asked exactly the same (`encoding_format` is in the key).
 */
export type WholeBody = { body: string; usage: Usage | null }

export class Flight {
  /** The leader's chunks so far (for a streamed leader). */
  readonly chunks: ChatChunk[] = []
  state: FlightState = 'open'
  /** The leader's answer, once it has it: canonical (chat-shaped calls) or `whole` (embeddings). */
  answer: ChatResult | null = null
  whole: WholeBody | null = null
  /** Who answers (set once the leader's call is answered, before its first chunk): what followers report. */
  provider = ''
  /** The upstream model that answers, also for chunks whose `model` the upstream left empty. */
  model = ''
  /** Requests that followed this one so far. */
  followers = 0
  /** Resolves once the leader has its answer (`true`: then in `answer` or `whole`) or failed (`false`). */
  readonly settled: Promise<boolean>
  private resolve!: (answered: boolean) => void
  /** Streamed followers waiting for the next change. */
  private waiting: (() => void)[] = []

  constructor() {
    this.settled = new Promise((resolve) => {
      this.resolve = resolve
    })
  }

  push(chunk: ChatChunk): void {
    if (this.state !== 'open') return
    this.chunks.push(
      chunk.type === 'start' && chunk.model === '' ? { ...chunk, model: this.model } : chunk
    )
    this.wake()
  }

  complete(answer: ChatResult | WholeBody): void {
    if (this.state !== 'open') return
    this.state = 'done'
    if ('choices' in answer) this.answer = answer
    else this.whole = answer
    this.resolve(true)
    this.wake()
  }

  fail(): void {
    if (this.state !== 'open') return
    this.state = 'failed'
    this.resolve(false)
    this.wake()
  }

  /** Resolves on the next chunk or the end. */
  changed(): Promise<void> {
    if (this.state !== 'open') return Promise.resolve()
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  private wake(): void {
    if (this.waiting.length === 0) return
    const waiting = this.waiting
    this.waiting = []
    for (const resolve of waiting) resolve()
  }
}

const brokenOff = new WeakSet<object>()

/**
 * What a follower's reader throws when the leader's stream broke off after the follower had chunks: the follower then
 * goes upstream itself (`resume-follower.ts`), so that it never receives the leader's error.
 */
export const leaderBrokeOff = (): GatewayError => {
  const error = new GatewayError(
    'upstream',
    'The upstream stream this answer was shared from broke off.'
  )
  brokenOff.add(error)
  return error
}

export const isLeaderBrokeOff = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && brokenOff.has(error)

/**
 * A streamed follower's reader over `flight`, from its first chunk; `null` when the leader failed before sending any
 * (the follower then goes upstream itself). A leader that completed whole is read as the chunks of its answer.
 */
export const followFlight = async (flight: Flight): Promise<ChunkReader<ChatChunk> | null> => {
  while (flight.state === 'open' && flight.chunks.length === 0) await flight.changed()
  if (flight.state === 'failed' && flight.chunks.length === 0) return null
  let chunks = flight.chunks
  let replayed = false
  let next = 0
  let cancelled = false
  return {
    async read() {
      for (;;) {
        if (cancelled) return { done: true, value: undefined }
        if (next < chunks.length) {
          next += 1
          return { done: false, value: chunks[next - 1] }
        }
        if (flight.state === 'open') {
          await flight.changed()
          continue
        }
        if (flight.state === 'failed') throw leaderBrokeOff()
        // Done: a leader that never streamed gives its answer's chunks; a streamed one has sent them all.
        if (!replayed && flight.chunks.length === 0 && flight.answer !== null) {
          replayed = true
          chunks = chunksOfAnswer(flight.answer)
          next = 0
          continue
        }
        return { done: true, value: undefined }
      }
    },
    async cancel() {
      cancelled = true
    },
  }
}

/** The flights in progress, by cache key. */
export class Flights {
  private readonly byKey = new Map<string, Flight>()

  get(key: string): Flight | undefined {
    return this.byKey.get(key)
  }

  /** A new flight under `key` (the caller leads it). */
  start(key: string): Flight {
    const flight = new Flight()
    this.byKey.set(key, flight)
    return flight
  }

  /** Unlists `flight` (only if it is still the one under `key`). */
  end(key: string, flight: Flight): void {
    if (this.byKey.get(key) === flight) this.byKey.delete(key)
  }

  get size(): number {
    return this.byKey.size
  }
}
