/**
 * The paced-streams scenario's stamps. The mock (`lean-mock-upstream.ts`) writes every event of a paced stream with
 * the time it wrote it, on the shared monotonic clock (`monotonic-micros.ts`), in the chunk's `obfuscation` member:
 * OpenAI's streams carry that member on every chunk, filled with random characters of varying length to pad the
 * chunk's size, so the stamp changes no chunk's shape and a proxy forwards it like any other byte. The load
 * generator reads each stamp back as the event arrives: arrival minus stamp is the event's delay through the target,
 * and the events of each kind are counted, so a stream missing a chunk or leaking a usage the client did not ask for
 * fails the run.
 * https://platform.openai.com/docs/api-reference/chat-streaming/streaming
 */

/** What precedes a stamp: the member's key and its opening quote. The stamp is a kind letter and whole microseconds. */
export const stampMarker = '"obfuscation":"'

export const stampKinds = { role: 'r', content: 'c', finish: 'f', usage: 'u' } as const
export type StampKind = keyof typeof stampKinds

/** The `obfuscation` value of an event of `kind` written at `micros`. */
export const stampFor = (kind: StampKind, micros: number): string =>
  `${stampKinds[kind]}${Math.round(micros)}`

/** What one stream's events were, counted as they arrived. */
export type StreamTally = Record<StampKind, number> & {
  /** Events (other than `[DONE]`) with a `"usage"` key: each one when the client asked for usage, none otherwise. */
  withUsageKey: number
  /** Events with data but no stamp (none expected: every event of a paced stream is stamped, `[DONE]` aside). */
  unstamped: number
  /** `data: [DONE]` came, as the last event. */
  done: boolean
  /** Events after `[DONE]` (must be none). */
  afterDone: number
}

const kindOfLetter: Record<string, StampKind | undefined> = {
  r: 'role',
  c: 'content',
  f: 'finish',
  u: 'usage',
}
const zero = 0x30

/**
 * Reads one stream's text as it arrives: complete events only (an event split across reads waits for its end), each
 * stamp passed to `onStamp` with the read's arrival time. Latin-1 text is enough: stamps and keys are ASCII.
 */
export const createStampReader = (
  onStamp: (stampMicros: number, arrivalMicros: number) => void
) => {
  const tally: StreamTally = {
    role: 0,
    content: 0,
    finish: 0,
    usage: 0,
    withUsageKey: 0,
    unstamped: 0,
    done: false,
    afterDone: 0,
  }
  let pending = ''
  const event = (text: string, start: number, end: number, arrivalMicros: number): void => {
    if (text.startsWith('data: [DONE]', start)) {
      tally.done = true
      return
    }
    if (tally.done) tally.afterDone += 1
    const marker = text.indexOf(stampMarker, start)
    if (marker === -1 || marker >= end) {
      tally.unstamped += 1
    } else {
      let index = marker + stampMarker.length
      const kind = kindOfLetter[text[index]]
      let micros = 0
      for (index += 1; index < end; index += 1) {
        const digit = text.charCodeAt(index) - zero
        if (digit < 0 || digit > 9) break
        micros = micros * 10 + digit
      }
      if (kind === undefined) tally.unstamped += 1
      else {
        tally[kind] += 1
        onStamp(micros, arrivalMicros)
      }
    }
    const usage = text.indexOf('"usage"', start)
    if (usage !== -1 && usage < end) tally.withUsageKey += 1
  }
  return {
    push(chunk: string, arrivalMicros: number): void {
      const text = pending === '' ? chunk : pending + chunk
      let start = 0
      for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n', start)) {
        event(text, start, end, arrivalMicros)
        start = end + 2
      }
      pending = start === 0 ? text : text.slice(start)
    },
    /** The tally; an unterminated last event counts as unstamped. */
    end(): StreamTally {
      if (pending.trim() !== '') tally.unstamped += 1
      pending = ''
      return tally
    },
  }
}

/**
 * Why a finished stream is not what the mock sent for `contentChunks` content chunks, or `null`: one role chunk,
 * every content chunk, one finish chunk, the usage chunk exactly when the client asked for it (and `"usage"` on
 * every event then, on none otherwise: the gateway asks the upstream for usage and must strip it), `[DONE]` last.
 */
export const streamProblem = (
  tally: StreamTally,
  expected: { contentChunks: number; includeUsage: boolean }
): string | null => {
  const events = tally.role + tally.content + tally.finish + tally.usage
  if (tally.content !== expected.contentChunks)
    return `${tally.content} of ${expected.contentChunks} content chunks`
  if (tally.role !== 1 || tally.finish !== 1)
    return `${tally.role} role and ${tally.finish} finish chunks (1 each expected)`
  if (tally.usage !== (expected.includeUsage ? 1 : 0))
    return `${tally.usage} usage chunks with include_usage ${expected.includeUsage}`
  if (tally.withUsageKey !== (expected.includeUsage ? events : 0)) {
    return `${tally.withUsageKey} of ${events} events carry "usage" with include_usage ${expected.includeUsage}`
  }
  if (tally.unstamped > 0) return `${tally.unstamped} events without a stamp`
  if (!tally.done || tally.afterDone > 0)
    return tally.done ? `${tally.afterDone} events after [DONE]` : 'no [DONE]'
  return null
}
