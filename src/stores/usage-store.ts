/**
 * Usage as stored: one record per request, written in batches, and hourly and daily roll-ups kept in the same
 * transaction as the events they count, so reads (dashboards, `GET /v1/usage`, budgets seeding their counters) read
 * a few roll-up rows instead of millions of events, and raw events can be pruned without losing totals.
 *
 * Unknown is not zero: a token count the provider did not report, or a cost whose price is unknown, is `null` in the
 * record, and a summed column is `null` only when no request of its row reported it (`unpriced_requests` counts the
 * requests whose cost was unknown, so a partial sum shows as partial).
 *
 * Estimated is not reported: where the upstream never said (a stream cut before its usage arrived), the gateway's own
 * figures are stored and marked (`estimated`), and each roll-up row says how many of its requests, and how much of its
 * cost, are estimates (`estimated_requests`, `estimated_cost_micro_usd`).
 */

export type UsageRecord = {
  /**
   * Unique per event, made once when the event is (a UUID): a batch written again after a failure that did commit
   * is not counted twice. Not the request id, which a client may choose and repeat.
   */
  id: string
  /**
   * `request`: a request's own event. `settlement`: what a background response's request learned after it ended
   * (`UsageEvent.kind`): its tokens, cost and outcome, added to the same roll-ups without counting a request, a
   * latency or an unknown cost again (a known cost takes its request off `unpriced_requests`).
   */
  kind: 'request' | 'settlement'
  /** Epoch ms the request started. Roll-ups bucket on it (UTC hours and days). */
  time: number
  requestId: string
  tenantId: string | null
  keyId: string | null
  /** The end user the client named (OpenAI `user`, Anthropic `metadata.user_id`, `x-gatehouse-user`). */
  userId: string | null
  tags: string[]
  /** `chat-completions`, `messages`...; `null` for a request refused on a path that is no operation. */
  operation: string | null
  requestedModel: string | null
  /** The provider and upstream model that served (or last tried) the request. */
  provider: string | null
  model: string | null
  attempts: number
  /** The HTTP status the client got. */
  status: number
  stream: boolean
  /** Why it failed (an error kind, never a body); `null` when it did not. */
  error: string | null
  inputTokens: number | null
  outputTokens: number | null
  cachedTokens: number | null
  cacheWriteTokens: number | null
  reasoningTokens: number | null
  /** Integer micro-USD; `null` when a price was unknown. */
  costMicroUsd: number | null
  latencyMs: number
  /** Time to the first upstream byte; `null` when none arrived. */
  ttfbMs: number | null
  clientAborted: boolean
  /**
   * What the gateway's prompt cache did (`UsageEvent.cache`): `hit` (answered from the cache: no tokens, cost 0),
   * `miss`, `bypass`; `null` when the cache was off for the request, and in events stored before the cache was.
   * Not the provider's prompt caching, which `cachedTokens` counts.
   */
  cache: 'hit' | 'miss' | 'bypass' | null
  /** For a hit only: what its answer cost when it was made, at today's prices (micro-USD); `null` when unknown. */
  savedCostMicroUsd: number | null
  /**
   * The tokens and cost are the gateway's estimate, not the upstream's report (`UsageEvent.estimated`): counted from
   * a stream cut before its usage arrived, or, when nothing could be counted, the cost the budget was charged.
   * Absent: `false`.
   */
  estimated?: boolean
}

export type UsageDimension = 'tenant' | 'key' | 'model' | 'provider' | 'user'

export const usageDimensions: readonly UsageDimension[] = [
  'tenant',
  'key',
  'model',
  'provider',
  'user',
]

export type UsageGranularity = 'hour' | 'day'

export type UsageQuery = {
  /** Epoch ms, inclusive; rounded down to the hour. */
  from: number
  /** Epoch ms, exclusive; rounded up to the hour. */
  to: number
  /** The row per combination of these (and of the time bucket, with `granularity`); none: one total row. */
  groupBy?: readonly UsageDimension[]
  /** A row per UTC hour or day (`bucket_start`); absent: the whole range in one. */
  granularity?: UsageGranularity | null
  /** Only usage of this tenant, key, user, model, provider. */
  tenantId?: string
  keyId?: string
  userId?: string
  model?: string
  provider?: string
}

/**
 * One row of a summary. The names are the wire names: the admin API, `GET /v1/usage`, the CLI's `--json` and the CSV
 * header use them as they are. A dimension is present only when grouped by, `null` when the requests had none (the
 * master key has no tenant or key; a refused request has no model).
 */
export type UsageRow = {
  /** Epoch ms of the UTC hour or day, with `granularity`. */
  bucket_start?: number
  tenant_id?: string | null
  key_id?: string | null
  model?: string | null
  provider?: string | null
  user_id?: string | null
  requests: number
  /** Requests answered with a status of 400 or more, or that failed after their status was sent. */
  errors: number
  client_aborted: number
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  cache_write_tokens: number | null
  reasoning_tokens: number | null
  cost_micro_usd: number | null
  /** Requests whose cost was unknown: `cost_micro_usd` leaves them out. */
  unpriced_requests: number
  /** Sum of latencies, for an average over `requests`. */
  latency_ms_total: number
  /** Requests the gateway's prompt cache answered (`cache: hit`); `requests` counts them too. */
  cache_hits: number
  /** Requests the prompt cache looked up and did not find (`cache: miss`): `cache_hits` over both is the hit ratio. */
  cache_misses: number
  /**
   * What the hits' answers had cost when they were made (integer micro-USD, today's prices): the provider cost the
   * cache saved. `null` when no hit of the row had a known saving (none at all, or no price).
   */
  saved_cost_micro_usd: number | null
  /**
   * Requests whose tokens and cost are the gateway's estimate (`UsageRecord.estimated`): `requests` counts them too,
   * and their tokens and cost are in the sums.
   */
  estimated_requests: number
  /** The part of `cost_micro_usd` that is estimated; `null` when no request of the row had an estimated cost. */
  estimated_cost_micro_usd: number | null
}

export type SpendScope = { tenantId: string } | { keyId: string }

export interface UsageStore {
  /**
   * Writes the events and their roll-ups in one transaction: all or nothing. Events whose `id` is stored already are
   * skipped, roll-ups included.
   */
  record(events: readonly UsageRecord[]): Promise<void>
  /** Rows ordered by bucket, then by the grouped dimensions; read from the roll-ups, never from raw events. */
  summarize(query: UsageQuery): Promise<UsageRow[]>
  /**
   * Integer micro-USD of known or estimated cost since `since` (epoch ms, a budget period's start, rounded down to
   * the hour), future-dated events included: what a budget has spent.
   */
  spent(scope: SpendScope, since: number): Promise<number>
  /**
   * Deletes raw events that started before `olderThan` (epoch ms; the roll-ups stay); resolves with how many. With
   * `limit`, one slice of at most `limit` events: fewer than `limit` deleted means none older is left.
   */
  pruneEvents(olderThan: number, limit?: number): Promise<number>
  /**
   * Deletes the hourly roll-up rows of hours before `olderThan` (epoch ms; the daily roll-ups stay, so totals over
   * whole days, and budgets' spend, do not change); resolves with how many. With `limit`, one slice of whole hours,
   * oldest first, of at least `limit` rows unless fewer are left: fewer than `limit` deleted means none older is left.
   */
  pruneHourlyRollups(olderThan: number, limit?: number): Promise<number>
}
