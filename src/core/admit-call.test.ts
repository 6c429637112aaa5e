import { describe, expect, it } from 'vitest'
import { createPriceTable } from '../../config/price-table.ts'
import { createFakeClock } from '../../test/helpers/fake-clock.ts'
import { createRecordingLogger } from '../../test/helpers/fake-deps.ts'
import { createMemoryAdmissionStore } from '../stores/memory/memory-admission-store.ts'
import type { AccessSettings } from '../stores/tenant-store.ts'
import {
  admitCall,
  allowedStandIns,
  holdTtlFor,
  settleDeferredReservation,
  matchesModelPattern,
  type AdmitCallOptions,
} from './admit-call.ts'
import type { CallRoute } from './chat-call.ts'
import { GatewayError } from './errors.ts'
import { masterPrincipal, type Principal } from './principal.ts'
import { formatResetDuration } from './rate-limit-headers.ts'

const open: AccessSettings = {
  allowedModels: null,
  limits: { rpm: null, tpm: null, concurrency: null },
  budget: null,
  metadata: {},
}

const routeTo = (...targets: [provider: string, model: string][]): CallRoute =>
  ({
    name: null,
    targets: targets.map(([provider, model]) => ({
      provider: { config: { id: provider } },
      model,
    })),
  }) as unknown as CallRoute

const keyPrincipal = (
  key: Partial<AccessSettings>,
  tenant: Partial<AccessSettings> = {}
): Principal => ({
  kind: 'key',
  id: 'key_1',
  tenantId: 'ten_1',
  access: { keyName: 'ci', key: { ...open, ...key }, tenant: { ...open, ...tenant } },
})

const setup = () => {
  const clock = createFakeClock()
  const stores = {
    admission: createMemoryAdmissionStore({ clock, loadSpent: async () => 0 }),
  }
  const admit = (principal: Principal, overrides: Partial<AdmitCallOptions> = {}) =>
    admitCall({
      principal,
      model: 'gpt-4o-mini',
      route: routeTo(['openai', 'gpt-4o-mini']),
      stores,
      prices: createPriceTable({
        providers: { openai: { type: 'openai' }, local: { type: 'openai-compatible' } },
      }),
      estimateInputTokens: () => 100,
      requestedMaxOutputTokens: 100,
      modelMaxOutputTokens: () => undefined,
      metered: true,
      clock,
      logger: createRecordingLogger(),
      ...overrides,
    })
  return { clock, stores, admit }
}

/** A refusal comes as a rejected promise, never as a throw or a value. */
const refusal = async (pending: unknown): Promise<GatewayError> => {
  expect(pending).toBeInstanceOf(Promise)
  const error = await (pending as Promise<unknown>).then(
    () => null,
    (caught: unknown) => caught
  )
  expect(error).toBeInstanceOf(GatewayError)
  return error as GatewayError
}

describe('admitCall', () => {
  it('lets the master key through with no headers', async () => {
    const { admit } = setup()
    expect((await admit(masterPrincipal)).headers).toEqual({})
  })

  it('matches model patterns with *, case-insensitively', () => {
    expect(matchesModelPattern('openai/*', 'openai/gpt-4o')).toBe(true)
    expect(matchesModelPattern('anthropic/claude-*', 'anthropic/claude-sonnet-4-5')).toBe(true)
    expect(matchesModelPattern('anthropic/claude-*', 'openai/claude-x')).toBe(false)
    expect(matchesModelPattern('gpt-4o.mini', 'gpt-4o-mini')).toBe(false)
  })

  it('allows a model by its name or by every target, and refuses it otherwise with a 403 naming it', async () => {
    const { admit } = setup()
    await admit(keyPrincipal({ allowedModels: ['gpt-4o-mini'] }))
    await admit(keyPrincipal({ allowedModels: ['openai/*'] }))
    const error = await refusal(admit(keyPrincipal({}, { allowedModels: ['anthropic/*'] })))
    expect(error).toMatchObject({ status: 403, param: 'model' })
    expect(error.message).toContain('gpt-4o-mini')
    expect(error.message).toContain('tenant')
    // A route with a target outside the list is refused even when the others are in it.
    await refusal(
      admit(keyPrincipal({ allowedModels: ['openai/*'] }), {
        model: 'fast',
        route: routeTo(['openai', 'gpt-4o-mini'], ['local', 'llama']),
      })
    )
  })

  it("judges a model by its own targets, not the config's global fallbacks, whatever the name's spelling", async () => {
    const { admit } = setup()
    // `gpt-4o-mini` and `openai/gpt-4o-mini` lead to the same targets: the model's own, then the stand-ins.
    const route = {
      name: null,
      targets: [
        ...routeTo(['openai', 'gpt-4o-mini']).targets,
        { ...routeTo(['local', 'tiny']).targets[0], standIn: true },
      ],
    } as CallRoute
    const principal = keyPrincipal({ allowedModels: ['openai/*'] })
    for (const model of ['gpt-4o-mini', 'openai/gpt-4o-mini'])
      await admit(principal, { model, route })
    // A stand-in outside the key's list, or its tenant's, does not stand in for it; one inside does.
    expect(allowedStandIns(route, principal).targets.map((target) => target.model)).toEqual([
      'gpt-4o-mini',
    ])
    const wider = keyPrincipal({ allowedModels: ['openai/*', 'local/*'] }, { allowedModels: ['*'] })
    expect(allowedStandIns(route, wider)).toBe(route)
    const narrowTenant = keyPrincipal({ allowedModels: null }, { allowedModels: ['openai/*'] })
    expect(allowedStandIns(route, narrowTenant).targets).toHaveLength(1)
    expect(allowedStandIns(route, masterPrincipal)).toBe(route)
  })

  it('allows N requests per minute, refuses the next with Retry-After, and says so in the headers', async () => {
    const { admit } = setup()
    const principal = keyPrincipal({ limits: { rpm: 2, tpm: null, concurrency: null } })
    const first = await admit(principal)
    expect(first.headers).toMatchObject({
      'x-ratelimit-limit-requests': '2',
      'x-ratelimit-remaining-requests': '1',
    })
    await admit(principal)
    const error = await refusal(admit(principal))
    expect(error).toMatchObject({ status: 429, openaiCode: 'rate_limit_exceeded' })
    expect(error.headers).toMatchObject({ 'x-ratelimit-remaining-requests': '0' })
    expect(Number(error.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('sets the token headers beside the request ones, and follows limits changed in place on the same settings', async () => {
    const { admit } = setup()
    const principal = keyPrincipal({ limits: { rpm: 5, tpm: 10_000, concurrency: null } })
    const first = await admit(principal)
    expect(first.headers).toEqual({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-reset-requests': expect.stringMatching(/^\d+(ms|s|m\d+s)$/),
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9800',
      'x-ratelimit-reset-tokens': expect.stringMatching(/^\d+(ms|s|m\d+s)$/),
    })
    // The same settings object, its limit lowered: the next call is held to the new one, not to what it was.
    principal.access!.key.limits.rpm = 2
    const second = await admit(principal)
    expect(second.headers).toMatchObject({
      'x-ratelimit-limit-requests': '2',
      'x-ratelimit-remaining-requests': '0',
    })
    expect(await refusal(admit(principal))).toMatchObject({ status: 429 })
  })

  it('frees a concurrency slot when the call settles', async () => {
    const { admit } = setup()
    const principal = keyPrincipal({}, { limits: { rpm: null, tpm: null, concurrency: 1 } })
    const first = await admit(principal)
    await refusal(admit(principal))
    first.settle({ tokens: 150, costMicroUsd: 10 })
    await new Promise((resolve) => setTimeout(resolve, 0))
    await admit(principal)
  })

  it('defers a background call: the slot is freed at once, the reservation held past 10 minutes, then settled to the real cost', async () => {
    const { admit, clock, stores } = setup()
    // 75 micro-USD at worst (see below); a budget of 100 holds one such reservation, not two.
    const principal = keyPrincipal({
      budget: { microUsd: 100, period: 'month' },
      limits: { rpm: null, tpm: null, concurrency: 1 },
    })
    const admission = await admit(principal, { reservationTtlMs: 3_600_000 })
    const reservation = admission.defer({ tokens: null })
    expect(reservation).toMatchObject({ costMicroUsd: 75, concurrentScopes: [] })
    expect(admission.defer({ tokens: null })).toBeNull() // once
    await new Promise((resolve) => setTimeout(resolve, 0))
    // The slot is free, but the reservation still fills the budget, 20 minutes on.
    await clock.advance(20 * 60_000)
    const filled = await refusal(admit(principal))
    expect(filled.headers).toMatchObject({ 'retry-after': '1' })
    await settleDeferredReservation({
      store: stores.admission,
      reservation: JSON.parse(JSON.stringify(reservation)),
      costMicroUsd: 30,
      logger: createRecordingLogger(),
    })
    // 30 spent, not 75: a request whose worst case is 69 fits (it would not beside 75), and 70 more spend it exactly.
    const small = await admit(principal, { requestedMaxOutputTokens: 90 })
    small.settle({ tokens: 0, costMicroUsd: 70 })
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect((await refusal(admit(principal))).message).toContain('is spent ($0.0001 of $0.0001)')
    // The master key and a key without a budget hand nothing back.
    expect((await admit(masterPrincipal)).defer({ tokens: null })).toBeNull()
    expect((await admit(keyPrincipal({}))).defer({ tokens: null })).toBeNull()
  })

  it('refuses a spent budget with insufficient_quota, and a model without a price under a budget', async () => {
    const { admit, clock } = setup()
    // gpt-4o-mini: 100 input tokens at $0.15/M and 100 output at $0.60/M: 75 micro-USD at worst.
    const principal = keyPrincipal({ budget: { microUsd: 100, period: 'month' } })
    const admission = await admit(principal)
    admission.settle({ tokens: 200, costMicroUsd: 100 })
    await new Promise((resolve) => setTimeout(resolve, 0))
    const error = await refusal(admit(principal))
    expect(error).toMatchObject({
      status: 429,
      openaiCode: 'insufficient_quota',
      openaiType: 'insufficient_quota',
    })
    expect(error.message).toBe(
      'The monthly budget of this key is spent ($0.0001 of $0.0001). It renews at 2026-02-01T00:00:00.000Z.'
    )
    // Nothing changes before the month ends: the SDKs are told when, and not to retry meanwhile.
    expect(error.headers).toMatchObject({
      'retry-after': String((Date.UTC(2026, 1, 1) - clock.now()) / 1_000),
      'x-should-retry': 'false',
    })
    const unpriced = await refusal(
      admit(keyPrincipal({ budget: { microUsd: 1_000_000, period: 'day' } }), {
        model: 'local/llama',
        route: routeTo(['local', 'llama']),
      })
    )
    expect(unpriced).toMatchObject({ status: 403 })
    expect(unpriced.message).toContain('local/llama')
  })

  it('names a daily budget, has no Retry-After for a total one, and asks a second later when reservations fill it', async () => {
    const { admit, clock } = setup()
    const daily = keyPrincipal({}, { budget: { microUsd: 80, period: 'day' } })
    ;(await admit(daily)).settle({ tokens: 200, costMicroUsd: 80 })
    await new Promise((resolve) => setTimeout(resolve, 0))
    const spentToday = await refusal(admit(daily))
    expect(spentToday.message).toMatch(/^The daily budget of this key's tenant is spent/)
    expect(spentToday.headers['retry-after']).toBe(
      String((Date.UTC(2026, 0, 2) - clock.now()) / 1_000)
    )

    const total = keyPrincipal({ budget: { microUsd: 80, period: 'total' } })
    ;(await admit(total)).settle({ tokens: 200, costMicroUsd: 80 })
    await new Promise((resolve) => setTimeout(resolve, 0))
    const spentForGood = await refusal(admit(total))
    expect(spentForGood.message).toBe('The budget of this key is spent ($0.00008 of $0.00008).')
    expect(spentForGood.headers['retry-after']).toBeUndefined()
    expect(spentForGood.headers['x-should-retry']).toBe('false')

    // 75 micro-USD reserved and in flight; the next worst case does not fit in what is left.
    const busy = keyPrincipal({ budget: { microUsd: 100, period: 'week' } })
    await admit(busy)
    const filled = await refusal(admit(busy))
    expect(filled).toMatchObject({
      status: 429,
      openaiCode: 'insufficient_quota',
      retryAfterMs: 1_000,
    })
    expect(filled.message).toContain('in flight')
    expect(filled.headers['retry-after']).toBe('1')
    expect(filled.headers['x-should-retry']).toBeUndefined()
  })

  it('formats reset durations as OpenAI does', () => {
    expect(formatResetDuration(20)).toBe('20ms')
    expect(formatResetDuration(1_000)).toBe('1s')
    expect(formatResetDuration(360_000)).toBe('6m0s')
  })
})

describe('holdTtlFor', () => {
  const routeWithTotal = (totalMs: number | undefined): CallRoute =>
    ({
      name: null,
      targets: [{ provider: { config: { id: 'openai' } }, model: 'm', timeouts: { totalMs } }],
    }) as unknown as CallRoute

  it('holds a slot and a reservation past the longest the route lets a call run', () => {
    // The default total timeout (580 s) fits in the stores' 10 minutes.
    expect(holdTtlFor(routeWithTotal(580_000))).toBe(640_000)
    expect(holdTtlFor(routeWithTotal(30_000))).toBe(600_000)
    // A route allowed 30 minutes (a long reasoning call) holds them for 31.
    expect(holdTtlFor(routeWithTotal(1_800_000))).toBe(1_860_000)
    expect(holdTtlFor(routeWithTotal(undefined))).toBe(600_000)
  })

  it('keeps a 30-minute call in its concurrency slot after the default 10 minutes', async () => {
    const { clock, stores } = setup()
    const long = routeWithTotal(1_800_000)
    const principal = keyPrincipal({ limits: { rpm: null, tpm: null, concurrency: 1 } })
    const options = {
      principal,
      model: 'm',
      route: long,
      stores,
      prices: createPriceTable({ providers: { openai: { type: 'openai' } } }),
      estimateInputTokens: () => 10,
      requestedMaxOutputTokens: 10,
      modelMaxOutputTokens: () => undefined,
      metered: true,
      clock,
      logger: createRecordingLogger(),
    } satisfies AdmitCallOptions
    await admitCall(options)
    await clock.advance(20 * 60_000)
    // Still running at minute 20: the slot is still its own.
    const error = await refusal(admitCall(options))
    expect(error.message).toMatch(/1 concurrent requests/)
    await clock.advance(11 * 60_000 + 1)
    await admitCall(options)
  })
})
