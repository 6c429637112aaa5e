import { describe, expect, it } from 'vitest'
import { createSequenceWatcher } from './watch-sequence-numbers.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('createSequenceWatcher', () => {
  it('continues after the highest sequence number seen, across chunks', () => {
    const watcher = createSequenceWatcher()
    expect(watcher.next()).toBe(0)
    watcher.write(
      bytes('event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n')
    )
    watcher.write(
      bytes(
        'data: {"type":"a","sequence_number":1}\n\ndata: {"type":"b","delta":"\\"sequence_number\\":99","sequence_number": 12}\n\n'
      )
    )
    expect(watcher.next()).toBe(13)
  })

  it('ignores a number cut off at the end of a chunk', () => {
    const watcher = createSequenceWatcher()
    watcher.write(bytes('data: {"sequence_number":4}\n\ndata: {"sequence_number":5'))
    expect(watcher.next()).toBe(5)
  })

  it('reads a number cut in two by a chunk boundary, and knows whether the bytes end between events', () => {
    const watcher = createSequenceWatcher()
    watcher.write(bytes('data: {"sequence_number":6}\n\ndata: {"type":"x","sequence_numb'))
    expect(watcher.atEventBoundary()).toBe(false)
    watcher.write(bytes('er":17}\n\n'))
    expect(watcher.next()).toBe(18)
    expect(watcher.atEventBoundary()).toBe(true)
  })
})
