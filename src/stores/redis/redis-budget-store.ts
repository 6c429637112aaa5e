/**
 * Budgets shared by every gateway process on one Redis. Per (tenant or key, period): a counter of what was spent,
 * and the reservations in flight (a sorted set scored by expiry, a hash of amounts with their total under `#total`).
 * One script reserves against the tenant and the key together; one settles.
 *
 * Seeding: when a counter is missing (a new period, Redis restarted, an idle `total` expired), the reserve script
 * writes nothing and names it; the store loads the spend from the usage store (single-flight per counter in this
 * process) and runs the script again with the value, which sets it only if the counter is still missing, in the same
 * atomic step as the check. Processes that load at the same time race, the first value wins, the others are ignored:
 * the spend is never counted twice. `settle` never creates a counter.
 *
 * Time is the caller's clock, not Redis's `TIME`: the period a cost belongs to must be the one the usage store sums
 * (`budgetPeriodBounds` on the same clock), and reservations expire in minutes, where a skew of milliseconds between
 * hosts does not matter. (Rate limits, which need milliseconds to agree, use Redis's clock.)
 *
 * Keys: `<prefix>bg:{<tenant>}:<scope>:<id>:<period>:<spent|res|res:n>`; the tenant in braces keeps all of a
 * tenant's keys in one Redis Cluster slot. Counters expire a day after their period ends (late settles still land;
 * `total` counters after 7 idle days), reservation sets with their last reservation.
 */
import type { Redis } from 'ioredis'
import type { Clock } from '../../core/clock.ts'
import { budgetPeriodBounds, type BudgetPeriodBounds } from '../budget-period-bounds.ts'
import {
  budgetAdmission,
  budgetStatesOf,
  degradedBudgetAdmission,
  pickBudgetRefusal,
  type BudgetCheck,
} from '../budget-check.ts'
import {
  budgetCounterGraceMs,
  defaultReservationTtlMs,
  spentQueryOf,
  totalCounterIdleTtlMs,
  validateActualCost,
  validateBudgetRequest,
  validateLoadedSpend,
  type Budget,
  type BudgetDecision,
  type BudgetRequest,
  type BudgetReservation,
  type BudgetStore,
  type SpentLoader,
} from '../budget-store.ts'
import type { LimitScope } from '../rate-limit-store.ts'
import type { RedisGuard } from './redis-guard.ts'
import { redisLuaPrelude } from './redis-lua-prelude.ts'
import { RedisScript } from './redis-script.ts'

/**
 * KEYS, per subject s (1 = tenant, 2 = key): 3s-2 spent counter, 3s-1 reservations (by expiry), 3s amounts.
 * ARGV: now, reservation id, amount, TTL ms, then per subject: limit (-1 = no budget), seed ('' = none), counter TTL.
 * Returns {-1, s...} when counters are missing and no seed came for them (nothing else written); else allowed (1/0),
 * then per budget: subject, limit, spent, reserved (before this one).
 */
const reserveSource = `${redisLuaPrelude}
local now = tonumber(ARGV[1])
local id = ARGV[2]
local amount = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local missing = {-1}
for s = 1, 2 do
  local base = 4 + (s - 1) * 3
  if tonumber(ARGV[base + 1]) >= 0 and redis.call('EXISTS', KEYS[3 * s - 2]) == 0 then
    if ARGV[base + 2] ~= '' then
      redis.call('SET', KEYS[3 * s - 2], ARGV[base + 2], 'PX', ARGV[base + 3])
    else
      missing[#missing + 1] = s
    end
  end
end
if #missing > 1 then return missing end

local out = {1}
for s = 1, 2 do
  local limit = tonumber(ARGV[4 + (s - 1) * 3 + 1])
  if limit >= 0 then
    local amounts = KEYS[3 * s]
    trim(KEYS[3 * s - 1], amounts, now)
    local spent = tonumber(redis.call('GET', KEYS[3 * s - 2])) or 0
    local reserved = tonumber(redis.call('HGET', amounts, TOTAL)) or 0
    if spent + reserved + math.max(1, amount) > limit then out[1] = 0 end
    for _, v in ipairs({s, limit, spent, reserved}) do out[#out + 1] = v end
  end
end

if out[1] == 1 then
  for s = 1, 2 do
    local base = 4 + (s - 1) * 3
    if tonumber(ARGV[base + 1]) >= 0 then
      local log, amounts = KEYS[3 * s - 1], KEYS[3 * s]
      redis.call('ZADD', log, int(now + ttl), id)
      redis.call('HSET', amounts, id, int(amount))
      redis.call('HINCRBY', amounts, TOTAL, int(amount))
      if redis.call('PTTL', log) < ttl then redis.call('PEXPIRE', log, ttl) end
      if redis.call('PTTL', amounts) < ttl then redis.call('PEXPIRE', amounts, ttl) end
      redis.call('PEXPIRE', KEYS[3 * s - 2], ARGV[base + 3])
    end
  end
end
return out
`

/**
 * KEYS: as for reserve. ARGV: reservation id, actual cost, then per subject: reserved there (1/0), counter TTL ms.
 * Releases the reservation where it still is; adds the cost to counters that exist.
 */
const settleSource = `${redisLuaPrelude}
local id = ARGV[1]
local actual = tonumber(ARGV[2])
for s = 1, 2 do
  local base = 2 + (s - 1) * 2
  if ARGV[base + 1] == '1' then
    local log, amounts = KEYS[3 * s - 1], KEYS[3 * s]
    local held = tonumber(redis.call('HGET', amounts, id))
    if held then
      redis.call('HDEL', amounts, id)
      redis.call('HINCRBY', amounts, TOTAL, int(-held))
      redis.call('ZREM', log, id)
    end
    if redis.call('EXISTS', KEYS[3 * s - 2]) == 1 then
      redis.call('INCRBY', KEYS[3 * s - 2], int(actual))
      redis.call('PEXPIRE', KEYS[3 * s - 2], ARGV[base + 2])
    end
  end
end
return 1
`

const reserveScript = new RedisScript(reserveSource)
const settleScript = new RedisScript(settleSource)

const scopes: readonly LimitScope[] = ['tenant', 'key']

/** How long a loaded spend may seed a missing counter (see `load`). */
const seedFreshMs = 1_000

type Subject = { scope: LimitScope; id: string; budget: Budget; bounds: BudgetPeriodBounds }

export type RedisBudgetStoreOptions = {
  redis: Redis
  guard: RedisGuard
  clock: Clock
  /** The spend so far of a tenant or key in a period, from the usage store. */
  loadSpent: SpentLoader
  /** Starts every key; `gatehouse:` by default. Processes that share budgets share it. */
  prefix?: string
}

/** How long a counter lives from `now`: a grace past its period's end, or (total) an idle time. */
const counterTtlMs = (end: number | null, now: number): number =>
  end === null ? totalCounterIdleTtlMs : Math.max(1, end + budgetCounterGraceMs - now)

export const createRedisBudgetStore = (options: RedisBudgetStoreOptions): BudgetStore => {
  const { redis, guard, clock, loadSpent } = options
  const prefix = options.prefix ?? 'gatehouse:'
  const settled = new WeakSet<BudgetReservation>()
  const loads = new Map<string, { value: Promise<number>; loadedAt: number | null }>()

  const counterKeys = (
    tenantId: string,
    slots: readonly ({ id: string; periodKey: string } | null)[]
  ): string[] => {
    const tag = `${prefix}bg:{${encodeURIComponent(tenantId)}}:`
    return slots.flatMap((slot, index) => {
      // A subject without a budget still fills its three KEYS slots, with names the scripts never touch.
      if (slot === null) return [`${tag}none`, `${tag}none`, `${tag}none`]
      const base = `${tag}${scopes[index]}:${encodeURIComponent(slot.id)}:${slot.periodKey}:`
      return [`${base}spent`, `${base}res`, `${base}res:n`]
    })
  }

  /**
   * The subject's spend so far, loaded once per counter however many requests of this process ask. A finished load
   * stays usable for `seedFreshMs`: replies to scripts that ran before the seed was written still arrive after the
   * load finished, and they must not start a second one. (A seed is written only where the counter is missing, so a
   * reused value can never add to a counter; at worst, after two losses within a second, it misses that second.)
   */
  const load = (subject: Subject, tenantId: string, name: string, now: number): Promise<number> => {
    for (const [other, entry] of loads)
      if (entry.loadedAt !== null && entry.loadedAt + seedFreshMs <= now) loads.delete(other)
    let entry = loads.get(name)
    if (entry === undefined) {
      const query = spentQueryOf(subject, tenantId)
      const started: { value: Promise<number>; loadedAt: number | null } = {
        value: loadSpent(query)
          .then((spent) => validateLoadedSpend(query, spent))
          .then(
            (spent) => {
              started.loadedAt = clock.now()
              return spent
            },
            (error: unknown) => {
              loads.delete(name)
              throw error
            }
          ),
        loadedAt: null,
      }
      entry = started
      loads.set(name, entry)
    }
    return entry.value
  }

  return {
    reserve: async (request: BudgetRequest): Promise<BudgetDecision> => {
      validateBudgetRequest(request)
      const ttlMs = request.ttlMs ?? defaultReservationTtlMs
      const id = crypto.randomUUID()
      if (request.tenant.budget === null && request.key.budget === null)
        return budgetAdmission(id, request, [])
      const seeds: (number | null)[] = [null, null]
      let periodKeys: (string | null)[] = [null, null]
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const now = clock.now()
        const subjects: (Subject | null)[] = scopes.map((scope) => {
          const { id: subjectId, budget } = request[scope]
          return budget === null
            ? null
            : { scope, id: subjectId, budget, bounds: budgetPeriodBounds(budget.period, now) }
        })
        // A seed loaded for one period is no seed for the next.
        subjects.forEach((subject, index) => {
          if (subject?.bounds.key !== periodKeys[index]) seeds[index] = null
        })
        periodKeys = subjects.map((subject) => subject?.bounds.key ?? null)
        const keys = counterKeys(
          request.tenant.id,
          subjects.map((subject) =>
            subject === null ? null : { id: subject.id, periodKey: subject.bounds.key }
          )
        )
        const args: (string | number)[] = [now, id, request.amountMicroUsd, ttlMs]
        subjects.forEach((subject, index) =>
          args.push(
            subject?.budget.limitMicroUsd ?? -1,
            seeds[index] ?? '',
            counterTtlMs(subject?.bounds.end ?? null, now)
          )
        )
        const reply = await guard.runCancellable(
          'budget reserve',
          'Budgets',
          () => reserveScript.run(redis, keys, args),
          () => {
            // Settles the reservation with a cost of 0: releases it, adds nothing.
            const cancel: (string | number)[] = [id, 0]
            for (const subject of subjects)
              cancel.push(subject === null ? 0 : 1, counterTtlMs(subject?.bounds.end ?? null, now))
            return settleScript.run(redis, keys, cancel)
          }
        )
        if (reply === null) return degradedBudgetAdmission(id, request)

        const values = reply as number[]
        if (values[0] === -1) {
          const missing = values.slice(1).map((subjectIndex) => subjectIndex - 1)
          const loaded = await Promise.all(
            missing.map((index) => {
              const subject = subjects[index] as Subject
              return load(subject, request.tenant.id, keys[index * 3], now)
            })
          )
          missing.forEach((index, at) => (seeds[index] = loaded[at]))
          continue
        }

        const checks: BudgetCheck[] = []
        for (let at = 1; at < values.length; at += 4) {
          const subject = subjects[values[at] - 1] as Subject
          checks.push({
            scope: subject.scope,
            bounds: subject.bounds,
            limitMicroUsd: values[at + 1],
            spentMicroUsd: values[at + 2],
            reservedMicroUsd: values[at + 3],
            amountMicroUsd: request.amountMicroUsd,
          })
        }
        if (values[0] !== 1) {
          const refusal = pickBudgetRefusal(checks)
          if (refusal === null)
            throw new Error('the budget script refused without a budget that refused')
          return { allowed: false, refusal, states: budgetStatesOf(checks, false) }
        }
        return budgetAdmission(id, request, checks)
      }
      throw new Error('budget counters could not be seeded: they expired while loading, 3 times')
    },

    settle: async (reservation, actualMicroUsd) => {
      validateActualCost(actualMicroUsd)
      if (reservation.degraded || settled.has(reservation)) return
      settled.add(reservation)
      if (reservation.entries.length === 0) return
      const now = clock.now()
      const slots = scopes.map((scope) => {
        const entry = reservation.entries.find((candidate) => candidate.scope === scope)
        return entry === undefined ? null : entry
      })
      const keys = counterKeys(
        reservation.tenantId,
        slots.map((entry, index) =>
          entry === null
            ? null
            : {
                id: index === 0 ? reservation.tenantId : reservation.keyId,
                periodKey: entry.periodKey,
              }
        )
      )
      const args: (string | number)[] = [reservation.id, actualMicroUsd]
      for (const entry of slots)
        args.push(entry === null ? 0 : 1, counterTtlMs(entry?.periodEnd ?? null, now))
      await guard.run(
        'budget settle',
        () => settleScript.run(redis, keys, args),
        () => undefined
      )
    },
  }
}
