/**
 * An Anthropic upstream's error, end to end: the real Node server and a mock Anthropic upstream, read by the official
 * SDKs. An Anthropic client gets the upstream's `error.type` and `details` as they came (the SDK's `type` and
 * `errorCode`), and its 529 or 504; an OpenAI client of the same upstream gets the OpenAI-shaped error it got before.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { startMockAnthropicUpstream } from '../helpers/mock-anthropic-upstream.ts'
import type { Fault, MockUpstream } from '../helpers/mock-upstream-server.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'test-master-key-passthrough'
/** Looks like no key pattern: only the gateway's memory of its own credentials can find it in an echo. */
const providerKey = 'plain-provider-credential-5150'

let upstream: MockUpstream
let gateway: NodeServer

/** The gateway makes 3 attempts (`retry.maxRetries: 2`): a retryable status is answered to each. */
const enqueueForEveryAttempt = (fault: Fault): void => upstream.enqueue(fault, fault, fault)

const anthropicError = (
  status: number,
  error: Record<string, unknown>,
  headers: Record<string, string> = {}
): Fault => ({
  status,
  body: { type: 'error', error, request_id: 'req_011CUpstream' },
  headers,
})

const anthropicClient = () =>
  new Anthropic({ baseURL: gateway.url, apiKey: masterKey, maxRetries: 0 })

const openAIClient = () =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: masterKey, maxRetries: 0 })

const message = { max_tokens: 32, messages: [{ role: 'user' as const, content: 'hello' }] }

const anthropicFailure = async (
  stream = false
): Promise<InstanceType<typeof Anthropic.APIError>> => {
  const client = anthropicClient()
  const caught: unknown = await (
    stream
      ? client.messages.stream({ model: 'claude-sonnet-4-6', ...message }).finalMessage()
      : client.messages.create({ model: 'claude-sonnet-4-6', ...message })
  ).catch((error: unknown) => error)
  expect(caught).toBeInstanceOf(Anthropic.APIError)
  return caught as InstanceType<typeof Anthropic.APIError>
}

const openAIFailure = async (): Promise<InstanceType<typeof OpenAI.APIError>> => {
  const caught: unknown = await openAIClient()
    .chat.completions.create({
      model: 'claude/claude-sonnet-4-6',
      messages: [{ role: 'user', content: 'hello' }],
    })
    .catch((error: unknown) => error)
  expect(caught).toBeInstanceOf(OpenAI.APIError)
  return caught as InstanceType<typeof OpenAI.APIError>
}

beforeAll(async () => {
  upstream = await startMockAnthropicUpstream({ apiKey: providerKey })
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  claude: { type: anthropic, apiKey: ${providerKey}, baseUrl: "${upstream.baseUrl}", discoverModels: false }`,
      'defaultProvider: { anthropic: claude }',
      'retry: { maxRetries: 2, initialDelayMs: 5, maxDelayMs: 20 }',
      'circuitBreaker: { enabled: false }',
    ],
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

beforeEach(() => upstream.reset())

describe('an Anthropic upstream error, for an Anthropic client (@anthropic-ai/sdk)', () => {
  it("passes on a 400's type and details.error_code, which the SDK reads as errorCode, with the key masked", async () => {
    upstream.enqueue(
      anthropicError(400, {
        type: 'invalid_request_error',
        message: `The compaction signature is invalid (key ${providerKey}).`,
        details: { error_code: 'compaction_signature_invalid', echoed: providerKey },
      })
    )
    const error = await anthropicFailure()
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect(error.status).toBe(400)
    expect(error.type).toBe('invalid_request_error')
    expect(error.errorCode).toBe('compaction_signature_invalid')
    expect(error.error).toMatchObject({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'The compaction signature is invalid (key [redacted]).',
        details: { error_code: 'compaction_signature_invalid', echoed: '[redacted]' },
      },
    })
    expect(JSON.stringify(error.error)).not.toContain(providerKey)
    expect(error.requestID).toMatch(/.+/)
    expect(error.headers?.get('x-gatehouse-upstream-request-id')).toMatch(/.+/)
  })

  it("passes on a spend-limit 429's details.error_code", async () => {
    upstream.enqueue(
      anthropicError(
        429,
        {
          type: 'rate_limit_error',
          message: 'You have reached your spend limit.',
          details: { error_code: 'enforced_spend_limit_reached' },
        },
        { 'x-should-retry': 'false' }
      )
    )
    const error = await anthropicFailure()
    expect(error).toBeInstanceOf(Anthropic.RateLimitError)
    expect(error.status).toBe(429)
    expect(error.type).toBe('rate_limit_error')
    expect(error.errorCode).toBe('enforced_spend_limit_reached')
  })

  it("passes on a 409's conflict_error", async () => {
    enqueueForEveryAttempt(
      anthropicError(409, { type: 'conflict_error', message: 'The resource changed.' })
    )
    const error = await anthropicFailure()
    expect(error).toBeInstanceOf(Anthropic.ConflictError)
    expect(error.status).toBe(409)
    expect(error.type).toBe('conflict_error')
    expect(error.error).toMatchObject({ error: { type: 'conflict_error' } })
  })

  it('keeps a 529 overloaded_error a 529 after the gateway has retried it, with x-should-retry: false', async () => {
    enqueueForEveryAttempt(anthropicError(529, { type: 'overloaded_error', message: 'Overloaded' }))
    const error = await anthropicFailure()
    expect(error).toBeInstanceOf(Anthropic.OverloadedError)
    expect(error.status).toBe(529)
    expect(error.type).toBe('overloaded_error')
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } })
    expect(error.headers?.get('x-should-retry')).toBe('false')
    expect(error.headers?.get('x-gatehouse-attempts')).toBe('3')

    enqueueForEveryAttempt(anthropicError(529, { type: 'overloaded_error', message: 'Overloaded' }))
    const streamed = await anthropicFailure(true)
    expect(streamed).toBeInstanceOf(Anthropic.OverloadedError)
    expect(streamed.type).toBe('overloaded_error')
  })

  it('keeps a 504 timeout_error; another 5xx is a 502 of the type the upstream sent', async () => {
    enqueueForEveryAttempt(anthropicError(504, { type: 'timeout_error', message: 'Timed out' }))
    const timeout = await anthropicFailure()
    expect(timeout).toBeInstanceOf(Anthropic.GatewayTimeoutError)
    expect(timeout.status).toBe(504)
    expect(timeout.type).toBe('timeout_error')

    enqueueForEveryAttempt(anthropicError(500, { type: 'api_error', message: 'Internal error' }))
    const internal = await anthropicFailure()
    expect(internal.status).toBe(502)
    expect(internal.type).toBe('api_error')
  })
})

describe('the same upstream errors, for an OpenAI client (openai)', () => {
  it('are OpenAI-shaped: a 529 is a 502 server_error, a 400 keeps its message and has no details', async () => {
    enqueueForEveryAttempt(anthropicError(529, { type: 'overloaded_error', message: 'Overloaded' }))
    const overloaded = await openAIFailure()
    expect(overloaded).toBeInstanceOf(OpenAI.InternalServerError)
    expect(overloaded.status).toBe(502)
    expect(overloaded.type).toBe('server_error')
    expect(overloaded.code).toBe('upstream_error')
    expect(overloaded.headers?.get('x-should-retry')).toBe('false')

    upstream.enqueue(
      anthropicError(400, {
        type: 'invalid_request_error',
        message: 'The compaction signature is invalid.',
        details: { error_code: 'compaction_signature_invalid' },
      })
    )
    const invalid = await openAIFailure()
    expect(invalid).toBeInstanceOf(OpenAI.BadRequestError)
    expect(invalid.status).toBe(400)
    expect(invalid.error).toEqual({
      message: 'The compaction signature is invalid.',
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
  })
})
