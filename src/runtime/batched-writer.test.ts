import { describe, it, expect } from 'vitest'
import { createBatchedWriter } from './batched-writer.ts'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('createBatchedWriter', () => {
  it('writes the lines of one turn together, in order, at the next turn', async () => {
    const writes: string[] = []
    const writer = createBatchedWriter((text) => writes.push(text))
    writer.write('a\n')
    writer.write('b\n')
    expect(writes).toEqual([])
    await nextTurn()
    expect(writes).toEqual(['a\nb\n'])
    writer.write('c\n')
    await nextTurn()
    expect(writes).toEqual(['a\nb\n', 'c\n'])
  })

  it('writes at once when the backlog is large, and on flush()', async () => {
    const writes: string[] = []
    const writer = createBatchedWriter((text) => writes.push(text))
    const big = `${'x'.repeat(70 * 1024)}\n`
    writer.write('first\n')
    writer.write(big)
    expect(writes).toEqual([`first\n${big}`])
    writer.write('last\n')
    writer.flush()
    expect(writes).toHaveLength(2)
    await nextTurn()
    expect(writes).toEqual([`first\n${big}`, 'last\n'])
  })

  it('with maxWriteBytes, splits a turn into writes of at most that many bytes, between lines', async () => {
    const writes: string[] = []
    const writer = createBatchedWriter((text) => writes.push(text), { maxWriteBytes: 10 })
    for (const line of ['aaa\n', 'bbb\n', 'éé\n', 'a line longer than ten\n', 'c\n'])
      writer.write(line)
    await nextTurn()
    expect(writes).toEqual(['aaa\nbbb\n', 'éé\n', 'a line longer than ten\n', 'c\n'])
    expect(writes.join('')).toBe('aaa\nbbb\néé\na line longer than ten\nc\n')
  })
})
