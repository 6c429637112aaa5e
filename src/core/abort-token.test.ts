import { describe, it, expect } from 'vitest'
import { createAbortToken, toAbortSignal } from './abort-token.ts'

describe('createAbortToken', () => {
  it('calls each listener once with the reason set, and none added after the abort or removed before it', () => {
    const token = createAbortToken()
    const calls: string[] = []
    const first = (): void => void calls.push(`first:${String(token.reason)}`)
    const removed = (): void => void calls.push('removed')
    token.addEventListener('abort', first)
    token.addEventListener('abort', removed)
    token.removeEventListener('abort', removed)
    expect(token.aborted).toBe(false)
    token.abort('gone')
    token.abort('again')
    token.addEventListener('abort', () => calls.push('late'))
    expect(calls).toEqual(['first:gone'])
    expect(token.aborted).toBe(true)
    expect(token.reason).toBe('gone')
  })
})

describe('toAbortSignal', () => {
  it('returns a real signal as it is, and makes one that follows a token', () => {
    const real = new AbortController().signal
    expect(toAbortSignal(real)).toBe(real)
    const token = createAbortToken()
    const signal = toAbortSignal(token)
    expect(signal.aborted).toBe(false)
    token.abort('timeout')
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBe('timeout')
    const early = createAbortToken()
    early.abort('before')
    expect(toAbortSignal(early).reason).toBe('before')
  })
})
