import { describe, expect, it } from 'vitest'
import type { UsageRecord } from '../stores/usage-store.ts'
import { fromUsageRecordRow, toUsageRecordRow } from './usage-record-rows.ts'

describe('usage record rows', () => {
  it('carries every field of a record there and back, each in its own place', () => {
    // Every field set, each to a value no other field has: a field left out of a row, or two swapped, shows.
    const record = {
      id: 'id-1',
      kind: 'settlement',
      time: 1_796_304_690_483,
      requestId: 'req-2',
      tenantId: 'tenant-3',
      keyId: 'key-4',
      userId: 'user-5',
      tags: ['tag-6', 'tag-7'],
      operation: 'chat-completions',
      requestedModel: 'requested-8',
      provider: 'provider-9',
      model: 'model-10',
      attempts: 11,
      status: 212,
      stream: true,
      error: 'error-13',
      inputTokens: 14,
      outputTokens: 15,
      cachedTokens: 16,
      cacheWriteTokens: 17,
      reasoningTokens: 18,
      costMicroUsd: 19,
      latencyMs: 20,
      ttfbMs: 21,
      clientAborted: false,
      cache: 'hit',
      savedCostMicroUsd: 22,
      estimated: true,
    } satisfies Required<UsageRecord>
    const row = toUsageRecordRow(record)
    expect(row).toHaveLength(Object.keys(record).length)
    // Three flags share two values: those are checked one at a time below, the rest by their distinct values.
    const values = row.filter((value) => typeof value !== 'boolean')
    expect(new Set(values.map((value) => JSON.stringify(value))).size).toBe(values.length)
    expect(fromUsageRecordRow(structuredClone(row))).toEqual(record)
    for (const flag of ['stream', 'clientAborted', 'estimated'] as const) {
      const one = { ...record, stream: false, clientAborted: false, estimated: false, [flag]: true }
      expect(fromUsageRecordRow(structuredClone(toUsageRecordRow(one)))).toEqual(one)
    }
  })

  it('keeps nulls as nulls', () => {
    const record: UsageRecord = {
      id: 'id',
      kind: 'request',
      time: 1,
      requestId: 'req',
      tenantId: null,
      keyId: null,
      userId: null,
      tags: [],
      operation: null,
      requestedModel: null,
      provider: null,
      model: null,
      attempts: 0,
      status: 401,
      stream: false,
      error: null,
      inputTokens: null,
      outputTokens: null,
      cachedTokens: null,
      cacheWriteTokens: null,
      reasoningTokens: null,
      costMicroUsd: null,
      latencyMs: 0,
      ttfbMs: null,
      clientAborted: false,
      cache: null,
      savedCostMicroUsd: null,
      estimated: false,
    }
    expect(fromUsageRecordRow(toUsageRecordRow(record))).toStrictEqual(record)
  })
})
