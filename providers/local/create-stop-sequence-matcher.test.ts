import { describe, expect, it } from 'vitest'
import { createStopSequenceMatcher } from './create-stop-sequence-matcher.ts'

/** Feeds `text` piece by piece; returns what was shown, the stop found, and what a flush gives after. */
const feed = (stops: string[], pieces: string[]) => {
  const matcher = createStopSequenceMatcher(stops)
  const shown: string[] = []
  for (const piece of pieces) {
    const { text, stop } = matcher.push(piece)
    shown.push(text)
    if (stop !== null) return { shown, stop, rest: matcher.flush() }
  }
  return { shown, stop: null, rest: matcher.flush() }
}

describe('createStopSequenceMatcher', () => {
  it('ends before the stop sequence, even split across pieces, never showing its start', () => {
    const result = feed(['END'], ['The e', 'nd is n', 'ear. E', 'N', 'D and more'])
    expect(result.stop).toBe('END')
    expect(result.shown.join('')).toBe('The end is near. ')
    // The "E" that began the stop sequence was held back, not shown then taken back.
    expect(result.shown[2]).toBe('ear. ')
  })

  it('releases what it held once it cannot start a stop sequence, and at the end', () => {
    const result = feed(['###'], ['a #', '# b', ' ##'])
    expect(result).toEqual({ shown: ['a ', '## b', ' '], stop: null, rest: '##' })
  })

  it('stops at the earliest of several stop sequences', () => {
    const result = feed(['world', 'lo'], ['hello world'])
    expect(result).toMatchObject({ shown: ['hel'], stop: 'lo' })
  })

  it('passes everything through with no stop sequence', () => {
    expect(feed([], ['a', 'b'])).toEqual({ shown: ['a', 'b'], stop: null, rest: '' })
  })
})
