import { describe, expect, it } from 'vitest'
import { isDatabaseUnavailable } from './database-unavailable.ts'

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code })

describe('isDatabaseUnavailable', () => {
  it("takes the database's outages", () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      '08006',
      '28000',
      '28P01',
      '53300',
      '57P01',
      '57P03',
    ])
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(true)
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_IOERR_WRITE', 'SQLITE_FULL'])
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(true)
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true)
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true)
  })

  it('leaves a wrong query, a broken constraint and anything else to be the bug it is', () => {
    for (const code of [
      '42P01',
      '42703',
      '23505',
      '22P02',
      'SQLITE_ERROR',
      'SQLITE_CONSTRAINT_UNIQUE',
    ])
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(false)
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false)
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false)
  })
})
