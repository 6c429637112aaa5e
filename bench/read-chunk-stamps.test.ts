import { describe, expect, it } from 'vitest'
import { createStampReader, stampFor, streamProblem } from './read-chunk-stamps.ts'
import type { StreamTally } from './read-chunk-stamps.ts'

const event = (
  kind: Parameters<typeof stampFor>[0],
  micros: number,
  usage: 'null' | 'object' | 'none' = 'none'
): string => {
  const usageMember =
    usage === 'null' ? ',"usage":null' : usage === 'object' ? ',"usage":{"total_tokens":3}' : ''
  return `data: {"object":"chat.completion.chunk","choices":[]${usageMember},"obfuscation":"${stampFor(kind, micros)}"}\n\n`
}

const stream = (usage: 'null' | 'none'): string =>
  [
    event('role', 1_000, usage),
    event('content', 2_000, usage),
    event('content', 3_000, usage),
    event('finish', 4_000, usage),
    ...(usage === 'null' ? [event('usage', 4_000, 'object')] : []),
    'data: [DONE]\n\n',
  ].join('')

const tallyOf = (
  text: string,
  cuts: number[],
  arrival = 10_000
): { tally: StreamTally; stamps: number[][] } => {
  const stamps: number[][] = []
  const reader = createStampReader((stamp, at) => stamps.push([stamp, at]))
  let from = 0
  for (const cut of [...cuts, text.length]) {
    reader.push(text.slice(from, cut), arrival + from)
    from = cut
  }
  return { tally: reader.end(), stamps }
}

describe('createStampReader', () => {
  it('reads every stamp with the arrival of the read that completed its event, wherever the reads cut the text', () => {
    const text = stream('none')
    const whole = tallyOf(text, [])
    expect(whole.stamps).toEqual([1_000, 2_000, 3_000, 4_000].map((stamp) => [stamp, 10_000]))
    // Cut inside the first marker, between the two newlines ending the first event, inside the digits of the second.
    const inMarker = text.indexOf('obfusc') + 3
    const betweenNewlines = text.indexOf('\n\n') + 1
    const inDigits = text.indexOf('c2000') + 3
    const split = tallyOf(text, [inMarker, betweenNewlines, inDigits])
    expect(split.stamps.map(([stamp]) => stamp)).toEqual([1_000, 2_000, 3_000, 4_000])
    // Each event is timed by the read that completed it: the third read for the first two, the fourth for the rest.
    expect(split.stamps.map(([, arrival]) => arrival - 10_000)).toEqual([
      betweenNewlines,
      inDigits,
      inDigits,
      inDigits,
    ])
    expect(split.tally).toEqual(whole.tally)
    expect(whole.tally).toEqual({
      role: 1,
      content: 2,
      finish: 1,
      usage: 0,
      withUsageKey: 0,
      unstamped: 0,
      done: true,
      afterDone: 0,
    })
  })

  it('counts the events that carry "usage", the usage chunk, unstamped events and events after [DONE]', () => {
    const { tally } = tallyOf(`${stream('null')}data: {"choices":[]}\n\n`, [])
    expect(tally).toMatchObject({
      usage: 1,
      withUsageKey: 5,
      unstamped: 1,
      done: true,
      afterDone: 1,
    })
  })
})

describe('streamProblem', () => {
  const expected = { contentChunks: 2, includeUsage: false }

  it('accepts a whole stream, with usage exactly when the client asked', () => {
    expect(streamProblem(tallyOf(stream('none'), []).tally, expected)).toBeNull()
    expect(
      streamProblem(tallyOf(stream('null'), []).tally, { ...expected, includeUsage: true })
    ).toBeNull()
  })

  it('names what is wrong: a lost chunk, a leaked or missing usage, a stream cut short', () => {
    const lost = stream('none').replace(event('content', 3_000), '')
    expect(streamProblem(tallyOf(lost, []).tally, expected)).toBe('1 of 2 content chunks')
    expect(streamProblem(tallyOf(stream('null'), []).tally, expected)).toBe(
      '1 usage chunks with include_usage false'
    )
    const usageNullLeft = stream('null').replace(event('usage', 4_000, 'object'), '')
    expect(streamProblem(tallyOf(usageNullLeft, []).tally, expected)).toBe(
      '4 of 4 events carry "usage" with include_usage false'
    )
    expect(
      streamProblem(tallyOf(stream('none'), []).tally, { ...expected, includeUsage: true })
    ).toBe('0 usage chunks with include_usage true')
    const cut = stream('none').replace('data: [DONE]\n\n', '')
    expect(streamProblem(tallyOf(cut, []).tally, expected)).toBe('no [DONE]')
  })
})
