import { describe, expect, it } from 'vitest'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { createLogUsageSink, type UsageEvent } from './usage.ts'

const event = (requestId: string): UsageEvent => ({
  requestId,
  principalId: 'master',
  tenantId: null,
  keyId: null,
  userId: null,
  tags: [],
  dialect: 'openai',
  operation: 'chat-completions',
  requestedModel: 'gpt-4o-mini',
  route: null,
  provider: 'openai',
  model: 'gpt-4o-mini',
  stream: false,
  status: 200,
  refused: false,
  usage: null,
  attempts: 1,
  startedAt: 0,
  latencyMs: 1,
  ttfbMs: 1,
  costMicroUsd: null,
  clientAborted: false,
  error: null,
})

describe('createLogUsageSink', () => {
  it('writes the events of one turn after it, in order, as one deferred task', async () => {
    const logger = createRecordingLogger()
    const deferred: Promise<unknown>[] = []
    const usage = createLogUsageSink({ logger, defer: (work) => void deferred.push(work) })
    usage.record(event('a'))
    usage.record(event('b'))
    expect(logger.lines).toHaveLength(0)
    expect(deferred).toHaveLength(1)
    await Promise.all(deferred)
    expect(logger.lines.map((line) => [line.message, line.fields.requestId])).toEqual([
      ['usage', 'a'],
      ['usage', 'b'],
    ])
    usage.record(event('c'))
    expect(deferred).toHaveLength(2)
    await deferred[1]
    expect(logger.lines.at(-1)?.fields.requestId).toBe('c')
  })

  it('writes the rest of a batch when one line fails, then reports the failure to the deferred task', async () => {
    const logger = createRecordingLogger()
    const info = logger.info
    logger.info = (fields, message) => {
      if (fields.requestId === 'bad') throw new Error('sink failed')
      info(fields, message)
    }
    const deferred: Promise<unknown>[] = []
    const usage = createLogUsageSink({ logger, defer: (work) => void deferred.push(work) })
    usage.record(event('bad'))
    usage.record(event('good'))
    await expect(deferred[0]).rejects.toThrow('sink failed')
    expect(logger.lines.map((line) => line.fields.requestId)).toEqual(['good'])
  })

  it('writes what is queued at once on flush and on close (shutdown), and nothing twice', async () => {
    const logger = createRecordingLogger()
    const deferred: Promise<unknown>[] = []
    const usage = createLogUsageSink({ logger, defer: (work) => void deferred.push(work) })
    usage.record(event('a'))
    await usage.flush()
    expect(logger.lines.map((line) => line.fields.requestId)).toEqual(['a'])
    usage.record(event('b'))
    await usage.close()
    await Promise.all(deferred)
    expect(logger.lines.map((line) => line.fields.requestId)).toEqual(['a', 'b'])
  })
})
