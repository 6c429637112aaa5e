import { describe, expect, it } from 'vitest'
import { maxWorkers, parseWorkerCount, WorkerCountError } from './parse-worker-count.ts'

describe('parseWorkerCount', () => {
  it('is 1 when unset, the number given, or one per core for auto', () => {
    expect(parseWorkerCount(undefined, 8)).toBe(1)
    expect(parseWorkerCount('1', 8)).toBe(1)
    expect(parseWorkerCount('3', 8)).toBe(3)
    expect(parseWorkerCount('auto', 8)).toBe(8)
    expect(parseWorkerCount('auto', 1)).toBe(1)
    expect(parseWorkerCount(String(maxWorkers), 8)).toBe(maxWorkers)
  })

  it('refuses anything else, naming the option and the value', () => {
    for (const value of ['0', '-2', '1.5', 'two', '', ' 2', '02', String(maxWorkers + 1)]) {
      expect(() => parseWorkerCount(value, 8), value).toThrow(WorkerCountError)
      expect(() => parseWorkerCount(value, 8), value).toThrow(
        `--workers: expected a whole number from 1 to ${maxWorkers}, or auto; got "${value}"`
      )
    }
  })
})
