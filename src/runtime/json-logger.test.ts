import { describe, it, expect } from 'vitest'
import { ProviderError } from '../../providers/spec/provider-error.ts'
import { createJsonLogger } from './json-logger.ts'
import type { NodeLoggerOptions } from './json-logger.ts'

const capture = (options: Omit<NodeLoggerOptions, 'write'> = {}) => {
  const lines: string[] = []
  const logger = createJsonLogger({
    now: () => 1_700_000_000_000,
    ...options,
    write: (line) => lines.push(line),
  })
  const entries = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger, lines, entries }
}

describe('createJsonLogger', () => {
  it('writes one JSON line per entry with level, time and msg first', () => {
    const { logger, lines } = capture()
    logger.info({ requestId: 'req_1', status: 200 }, 'request done')
    expect(lines).toEqual([
      '{"level":"info","time":1700000000000,"msg":"request done","requestId":"req_1","status":200}\n',
    ])
  })

  it('drops entries below the level (default info)', () => {
    const { logger, entries } = capture()
    logger.debug({}, 'hidden')
    logger.warn({}, 'shown')
    expect(entries().map((entry) => entry.msg)).toEqual(['shown'])

    const quiet = capture({ level: 'error' })
    quiet.logger.warn({}, 'hidden')
    quiet.logger.error({}, 'shown')
    expect(quiet.entries().map((entry) => entry.msg)).toEqual(['shown'])

    const verbose = capture({ level: 'debug' })
    verbose.logger.debug({}, 'shown')
    expect(verbose.entries()).toHaveLength(1)
  })

  it('redacts fields named like credentials, at any depth', () => {
    const { logger, entries } = capture()
    logger.info(
      {
        apiKey: 'plain-value',
        headers: {
          authorization: 'whatever',
          'x-api-key': 'abc',
          'content-type': 'application/json',
        },
        accessToken: { nested: 'x' },
        usage: { inputTokens: 12, outputTokens: 3 },
      },
      'upstream call'
    )
    expect(entries()[0]).toMatchObject({
      apiKey: '[redacted]',
      headers: {
        authorization: '[redacted]',
        'x-api-key': '[redacted]',
        'content-type': 'application/json',
      },
      accessToken: '[redacted]',
      usage: { inputTokens: 12, outputTokens: 3 },
    })
  })

  it('redacts provider keys, bearer tokens and Gatehouse keys inside any string, message included', () => {
    const { logger, lines } = capture()
    logger.warn(
      {
        upstreamMessage:
          'Incorrect API key provided: sk-proj-abcdef123456. Header was Bearer eyJhbGciOi.x.y',
      },
      'client sent gh-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA and sk-ant-api03-zzzzzz'
    )
    const line = lines[0]
    expect(line).not.toMatch(
      /abcdef123456|eyJhbGciOi|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|zzzzzz/
    )
    expect(JSON.parse(line)).toMatchObject({
      msg: 'client sent gh-[redacted] and sk-[redacted]',
      upstreamMessage: 'Incorrect API key provided: sk-[redacted]. Header was Bearer [redacted]',
    })
  })

  it('serialises errors with their fields, redacted', () => {
    const { logger, entries } = capture()
    const error = new ProviderError({
      kind: 'http',
      status: 401,
      message: 'bad key sk-secret123456',
      detail: 'body: sk-secret123456',
    })
    logger.error({ err: error }, 'upstream failed')
    const entry = entries()[0] as { err: Record<string, unknown> }
    expect(entry.err).toMatchObject({
      name: 'ProviderError',
      message: 'bad key sk-[redacted]',
      kind: 'http',
      status: 401,
      detail: 'body: sk-[redacted]',
    })
    expect(String(entry.err.stack)).not.toContain('secret123456')
  })

  it('still writes a line when fields cannot be serialised', () => {
    const { logger, entries } = capture()
    const circular: Record<string, unknown> = {}
    circular.self = circular
    logger.info({ circular, big: 10n }, 'odd fields')
    expect(entries()[0]).toMatchObject({ level: 'info', msg: 'odd fields' })
  })

  it('does not let fields overwrite level, time or msg', () => {
    const { logger, entries } = capture()
    logger.info({ level: 'error', msg: 'spoofed' }, 'real')
    expect(entries()[0]).toMatchObject({ level: 'info', msg: 'real' })
  })

  it('puts the base fields on every line after msg, on both paths, and fields cannot overwrite them', () => {
    const { logger, lines, entries } = capture({ base: { pid: 4242 } })
    logger.info({ requestId: 'req_1' }, 'fast')
    logger.info({ apiKey: 'sk-hidden-123456', pid: 1 }, 'redacted')
    expect(lines[0]).toBe(
      '{"level":"info","time":1700000000000,"msg":"fast","pid":4242,"requestId":"req_1"}\n'
    )
    expect(entries()[1]).toEqual({
      level: 'info',
      time: 1_700_000_000_000,
      msg: 'redacted',
      pid: 4242,
      apiKey: '[redacted]',
    })
  })

  it('masks the configured keys wherever they appear, whatever their shape', () => {
    const { logger, lines } = capture({ secrets: ['gsk_groq_custom_key_1234', 'short'] })
    logger.error(
      { upstream: { message: 'Invalid API Key: gsk_groq_custom_key_1234' }, note: 'a short word' },
      'failed'
    )
    expect(lines[0]).not.toContain('gsk_groq_custom_key_1234')
    expect(JSON.parse(lines[0])).toMatchObject({
      upstream: { message: 'Invalid API Key: [redacted]' },
      note: 'a short word',
    })
  })

  it('redacts flat fields too (the per-request fast path): names, configured keys with quotes, key-like strings', () => {
    const { logger, lines, entries } = capture({ secrets: ['my"odd\\secret-123'] })
    logger.info(
      {
        requestId: 'req_1',
        requestedModel: 'my"odd\\secret-123',
        usage: { inputTokens: 3, outputTokens: 4 },
      },
      'usage'
    )
    logger.info(
      {
        requestId: 'req_2',
        xApiKey: 'plain-value-here',
        error: 'upstream said sk-proj-abcdefgh1234',
      },
      'usage'
    )
    logger.info(
      {
        requestId: 'req_3',
        model: 'gpt-4o-mini',
        usage: { inputTokens: 3, totalTokens: 7 },
        status: 200,
      },
      'usage'
    )
    expect(lines[0]).not.toContain('odd')
    expect(entries()[0]).toMatchObject({
      requestedModel: '[redacted]',
      usage: { inputTokens: 3, outputTokens: 4 },
    })
    expect(entries()[1]).toMatchObject({
      xApiKey: '[redacted]',
      error: 'upstream said sk-[redacted]',
    })
    expect(entries()[2]).toEqual({
      level: 'info',
      time: 1_700_000_000_000,
      msg: 'usage',
      requestId: 'req_3',
      model: 'gpt-4o-mini',
      usage: { inputTokens: 3, totalTokens: 7 },
      status: 200,
    })
  })
})
