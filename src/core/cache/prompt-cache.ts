/**
 * The prompt cache: repeated requests answered from a `CacheStore` (memory or Redis) instead of upstream. It sits in
 * the chat handler between `executor.route` (and admission) and `executor.execute`: `open` decides, for one request,
 * whether it is a hit (a stored answer, or the answer of an identical request in flight), a miss (it goes upstream,
 * its complete answer is then stored) or a bypass (the cache is on for the route, but not for this request); `null`
 * when the cache is off for the route, which costs one lookup and nothing else.
 *
 * What is stored is the complete canonical answer (`ChatResult`) and who gave it, as JSON: the codec of the client's
 * protocol encodes it, streamed or not, so a streamed answer serves a non-streamed request and the other way round.
 * Embeddings, which are never streamed and have no canonical form, are kept as the body the upstream sent.
 * Only complete successes are stored: no error of any status, no stream that broke off or that the client left, no
 * content-filtered answer, no finish reason the route excludes. The scope is the tenant (the master key has its own)
 * unless the route shares its cache; `x-gatehouse-cache-namespace` narrows it.
 *
 * Single-flight (`single-flight.ts`): the first request for a key leads a flight; identical requests that may read
 * the cache follow it instead of going upstream. With a shared store (Redis) the lead is claimed across processes too
 * (`SharedFlights`): the leader relays who answers, its chunks and its answer; a process whose request finds another
 * process leading feeds its local flight with that relay, and its requests follow it as they would a local leader.
 */
import type { ChatChunk, ChatResult, Usage } from '../../../providers/spec/chat-types.ts'
import type { Operation } from '../../../providers/spec/operation.ts'
import type { ChunkReader } from '../../../providers/spec/provider-adapter.ts'
import type { PriceTable } from '../../../config/price-table.ts'
import type { CacheStore, FlightRelay, SharedFlights } from '../../stores/cache-store.ts'
import type { CallRoute, ServedBy } from '../chat-call.ts'
import type { Clock } from '../clock.ts'
import { computeCost } from '../compute-cost.ts'
import type { ExecutionObserver } from '../execution-observer.ts'
import type { Logger } from '../logger.ts'
import type { Principal } from '../principal.ts'
import type { CachePolicy, ResolvedCache } from '../resolve-config.ts'
import { cacheKey, type Sha256Hex } from './cache-key.ts'
import { readCacheControls, ttlFor, uncacheableReason, type CacheControls } from './cache-policy.ts'
import { Flights, followFlight, type Flight, type WholeBody } from './single-flight.ts'

export type { WholeBody }

/** The JSON a store holds for one key: the canonical answer of a chat-shaped call, or a whole body. */
type StoredAnswer =
  | { v: 1; provider: string; model: string; answer: ChatResult; whole?: undefined }
  | { v: 1; provider: string; model: string; answer?: undefined; whole: WholeBody }

/**
 * What the cache derives from one stored value, kept in the store's memo beside it (`CachedValue.memo`) so that the
 * next hit on it neither parses it nor encodes it again. Shared by every hit on that value: what it holds is never
 * changed, only added to (`saved`, `encoded`).
 */
type ReadAnswer = {
  entry: StoredAnswer
  /** What the answer cost upstream, at the prices of `prices`; `undefined` until a hit asked. */
  saved?: { prices: PriceTable; micros: number | null }
  /** The answer as bodies already encoded for clients (`CacheHit.encoded`). */
  encoded: Map<unknown, Uint8Array>
}

export type CacheRequest = {
  operation: Operation
  route: CallRoute
  principal: Principal
  /** The validated body, as forwarded. */
  body: Record<string, unknown>
  /** The client headers that reach the upstream (`anthropic-version`, `anthropic-beta`). */
  forwardedHeaders: Record<string, string>
  /** The client's request headers, for `Cache-Control` and `x-gatehouse-cache-*`. */
  requestHeaders: Headers
  stream: boolean
  requestId: string
  /**
   * Why the handler cannot serve this request from the cache, if it cannot (a Responses request to be stored where
   * the deployment keeps no responses: a hit's id would lead nowhere). The request then bypasses the cache.
   */
  uncacheable?: string | null
}

/** A hit: the answer whole, or (a streamed request following one in flight) the leader's chunks as they come. */
export type CacheHit = {
  source: 'store' | 'flight'
  provider: string
  model: string
  ageMs: number
  answer: ChatResult | null
  /** The body of an answer kept whole (embeddings), in place of `answer`. */
  whole: WholeBody | null
  reader: ChunkReader<ChatChunk> | null
  /** What the answer cost upstream, at today's prices; `null` when unknown. */
  savedCostMicroUsd: number | null
  /**
   * For a hit on a stored answer, the response bodies it was already encoded to, kept with the stored value for the
   * next hits on it (`CachedValue.memo`): by encoder (a codec whose whole body depends on the answer alone), the
   * whole body as sent. A responder adds what it encodes and never changes what is there. `null`: none kept.
   */
  encoded: Map<unknown, Uint8Array> | null
}

/** How a call that went upstream ended, as the response saw it (`ResponseEnd`). */
export type CacheCallEnd = {
  status: number
  error: unknown
  answer: ChatResult | null
  /** A forwarded whole body (not streamed), as the upstream sent it: what an embeddings answer is kept as. */
  body?: Uint8Array | null
  /** The usage the answer reported (kept with a whole body). */
  usage?: Usage | null
}

export type PromptCacheOptions = {
  config: ResolvedCache
  store: CacheStore
  prices: PriceTable
  clock: Clock
  logger: Logger
  observer: ExecutionObserver
  /** Work after the response (the store's write): `Deps.defer`. */
  defer: (work: Promise<unknown>) => void
  /** The key's hash: `Deps.sha256Hex` where the runtime has a synchronous one, else Web Crypto's. */
  sha256Hex?: Sha256Hex
}

/** One request's dealings with the cache, from `open` to the end of its answer. */
export class CacheSession {
  status: 'hit' | 'miss' | 'bypass' = 'bypass'
  /** The key, when one was computed (not for a request the cache cannot hold). */
  key: string | null = null
  hit: CacheHit | null = null
  /** Whether the call must assemble its complete answer (`ChatCall.assemble`): to store it, or to share it. */
  assemble = false
  /** Given each canonical chunk of a streamed answer while it arrives, when identical requests may follow it. */
  onChunk: ((chunk: ChatChunk) => void) | undefined = undefined
  private flight: Flight | null = null
  /** Fails a led flight that outlives its call's deadline (a response whose end was never reported). */
  private flightTimer: unknown = undefined
  private storeAnswer = false
  /** The relay of this request's lead across processes (`SharedFlights.lead`), until its answer is given or not. */
  private relay: FlightRelay | null = null
  private ttlMs = 0
  private tenant: string | null = null
  private ended = false

  constructor(
    private readonly cache: PromptCacheImpl,
    private readonly request: CacheRequest,
    private readonly policy: CachePolicy
  ) {}

  /** Response headers saying what the cache did (`x-gatehouse-cache`, the key, `age` on a hit). */
  addHeaders(headers: Record<string, string>): void {
    headers['x-gatehouse-cache'] = this.status
    if (this.key !== null) headers['x-gatehouse-cache-key'] = this.key
    if (this.hit !== null) headers['age'] = String(Math.floor(this.hit.ageMs / 1000))
  }

  /** @internal */
  async decide(controls: CacheControls): Promise<void> {
    const { request, policy, cache } = this
    const reason = request.uncacheable ?? uncacheableReason(request.operation, request.body, policy)
    if (reason !== null) return
    const shared = policy.shareAcrossTenants
    const principal = request.principal
    this.tenant = shared ? null : principal.tenantId
    const key = await cacheKey(
      {
        operation: request.operation,
        route: request.route,
        scope: shared
          ? 'shared'
          : principal.tenantId !== null
            ? `tenant:${principal.tenantId}`
            : principal.kind === 'master'
              ? 'master'
              : `principal:${principal.id}`,
        namespace: controls.namespace,
        headers: request.forwardedHeaders,
        body: request.body,
      },
      cache.sha256Hex
    )
    this.key = key
    this.ttlMs = ttlFor(policy, controls)
    this.storeAnswer = controls.store && this.ttlMs > 0
    if (!controls.read) {
      // `no-cache` still stores what it gets; `no-store` neither reads nor stores.
      this.assemble = this.storeAnswer
      return
    }
    const inFlight = cache.flights.get(key)
    if (inFlight !== undefined) {
      if (await this.follow(inFlight)) return
      // The leader failed: this request goes upstream itself, and stores what it gets.
      this.status = 'miss'
      this.assemble = this.storeAnswer
      return
    }
    const flight = cache.flights.start(key)
    const stored = await cache.read(key, controls.maxAgeMs)
    if (stored !== null) {
      const { entry } = stored.read
      flight.provider = entry.provider
      flight.model = entry.model
      flight.complete(entry.answer ?? entry.whole)
      cache.flights.end(key, flight)
      this.setHit('store', entry.provider, entry.model, stored.ageMs, flight, null)
      this.hit!.savedCostMicroUsd = cache.savedCostOf(stored.read)
      this.hit!.encoded = stored.read.encoded
      return
    }
    if (cache.shared !== undefined) {
      const across = await this.acrossProcesses(key, flight)
      if (across === 'hit') return
      if (across === 'upstream') {
        // The other process's leader failed before giving anything: this request goes upstream itself.
        this.status = 'miss'
        this.assemble = this.storeAnswer
        return
      }
    }
    this.status = 'miss'
    this.flight = flight
    this.assemble = true
    const relay = this.relay
    this.onChunk =
      relay === null
        ? (chunk) => flight.push(chunk)
        : (chunk) => {
            flight.push(chunk)
            relay.send(JSON.stringify({ chunk }))
          }
    // The call ends within its total timeout; a flight still open well after it would hold its followers (and every
    // identical request after them) for nothing, so it fails and they go upstream themselves.
    const limitMs = request.route.targets[0].timeouts.totalMs + flightGraceMs
    this.flightTimer = cache.clock.setTimeout(() => this.abandon(), limitMs)
  }

  /**
   * Single-flight across processes (a shared store): claims the lead of `key` (`lead`: this request goes upstream and
   * relays its call), or, when another process holds it, feeds this process's `flight` with that one's relay and
   * follows it like any follower (`hit`; `upstream` when the leader failed before giving anything, or gave nothing
   * within `flightWaitMs`). This process's identical requests follow the same local flight either way.
   */
  private async acrossProcesses(key: string, flight: Flight): Promise<'lead' | 'hit' | 'upstream'> {
    const { cache, request } = this
    const shared = cache.shared!
    const timeouts = request.route.targets[0].timeouts
    // Followers wait this long for a first message, and bear a silence of the idle timeout: a lead lives as long,
    // renewed by every message, so that one whose process died is soon free for the next request.
    const firstMs = Math.min(cache.flightWaitMs, timeouts.totalMs)
    if (await shared.claim(key, firstMs + flightGraceMs)) {
      this.relay = shared.lead(key, timeouts.idleMs + flightGraceMs)
      return 'lead'
    }
    shared.follow(
      key,
      { firstMs, idleMs: timeouts.idleMs },
      {
        message: (text) => relayed(flight, text),
        end: (text) => {
          const answer = text === null ? null : relayedAnswer(text)
          if (answer === null) flight.fail()
          else flight.complete(answer)
          cache.flights.end(key, flight)
        },
      }
    )
    return (await this.follow(flight)) ? 'hit' : 'upstream'
  }

  /** Ends this request's relay across processes, if it leads one: with its answer, or with none. */
  private endRelay(answer: ChatResult | WholeBody | null): void {
    const relay = this.relay
    if (relay === null) return
    this.relay = null
    relay.end(
      answer === null ? null : JSON.stringify('choices' in answer ? { answer } : { whole: answer })
    )
  }

  /** Follows a flight: `true` when it gave a hit, `false` when its leader failed before giving anything. */
  private async follow(flight: Flight): Promise<boolean> {
    flight.followers += 1
    if (!this.request.stream) {
      if (!(await flight.settled)) return false
      this.setHit('flight', flight.provider, flight.model, 0, flight, null)
      return true
    }
    const reader = await followFlight(flight)
    if (reader === null) return false
    this.setHit('flight', flight.provider, flight.model, 0, flight, reader)
    return true
  }

  /** A hit on `flight`'s answer (a stored one, or the answer of an identical request in flight). */
  private setHit(
    source: CacheHit['source'],
    provider: string,
    model: string,
    ageMs: number,
    flight: Flight,
    reader: ChunkReader<ChatChunk> | null
  ): void {
    this.status = 'hit'
    // A streamed follower reads the chunks; otherwise the answer is whole.
    this.hit = {
      source,
      provider,
      model,
      ageMs,
      answer: reader === null ? flight.answer : null,
      whole: reader === null ? flight.whole : null,
      reader,
      savedCostMicroUsd: null,
      encoded: null,
    }
  }

  /** What a hit saved, once its answer is known (a streamed follower's at the end of the leader's). */
  savedCost(answer: ChatResult | null, whole: WholeBody | null = null): number | null {
    const hit = this.hit
    const usage = answer?.usage ?? whole?.usage ?? null
    if (hit === null || usage === null) return null
    return computeCost(usage, this.cache.prices.priceFor(hit.provider, hit.model))
  }

  /** The call went upstream and was answered by `servedBy`: identical requests in flight learn who. */
  served(servedBy: ServedBy): void {
    if (this.flight !== null) {
      this.flight.provider = servedBy.provider
      this.flight.model = servedBy.model
    }
    this.relay?.send(
      JSON.stringify({ served: { provider: servedBy.provider, model: servedBy.model } })
    )
  }

  /** The call failed before it had an answer: followers go upstream themselves. */
  abandon(): void {
    if (this.ended) return
    this.ended = true
    this.clearFlightTimer()
    if (this.flight !== null) {
      this.flight.fail()
      this.cache.flights.end(this.key!, this.flight)
    }
    this.endRelay(null)
  }

  /** The answer of a call that went upstream has ended: share it with followers and store it, when it is whole. */
  finish(end: CacheCallEnd, servedBy: ServedBy): void {
    if (this.ended) return
    this.ended = true
    this.clearFlightTimer()
    const flight = this.flight
    const key = this.key
    const answered = end.error === null && end.status < 300
    let answer = answered ? end.answer : null
    if (answer !== null && answer.model === '') answer = { ...answer, model: servedBy.model }
    const whole = answered && answer === null ? wholeBodyOf(this.request.operation, end) : null
    const given = answer ?? whole
    if (given === null) {
      if (flight !== null) {
        flight.fail()
        this.cache.flights.end(key!, flight)
      }
      this.endRelay(null)
      return
    }
    // Followers asked what this request asked: they get the answer, storable or not; those of other processes too.
    flight?.complete(given)
    this.endRelay(given)
    const unlist = (): void => {
      if (flight !== null) this.cache.flights.end(key!, flight)
    }
    if (
      !this.storeAnswer ||
      key === null ||
      (answer !== null && !this.cache.storable(answer, this.policy)) ||
      isStandIn(this.request.route, servedBy)
    ) {
      unlist()
      return
    }
    this.cache.write({
      key,
      entry:
        answer !== null
          ? { v: 1, provider: servedBy.provider, model: servedBy.model, answer }
          : { v: 1, provider: servedBy.provider, model: servedBy.model, whole: whole! },
      tenant: this.tenant,
      ttlMs: this.ttlMs,
      request: this.request,
      then: unlist,
    })
  }

  private clearFlightTimer(): void {
    if (this.flightTimer !== undefined) this.cache.clock.clearTimeout(this.flightTimer)
    this.flightTimer = undefined
  }
}

/**
 * Whether `servedBy` is one of the config's global fallbacks (`Target.standIn`): its answer is given, never stored, so
 * that it does not outlive the outage it covered.
 */
const isStandIn = (route: CallRoute, servedBy: ServedBy): boolean =>
  route.targets.some(
    (target) =>
      target.standIn === true &&
      target.provider.config.id === servedBy.provider &&
      target.model === servedBy.model
  )

/** A message of another process's relay (`acrossProcesses`): who answers, or a chunk. Anything else is skipped. */
const relayed = (flight: Flight, text: string): void => {
  const message = JSON.parse(text) as {
    served?: { provider?: unknown; model?: unknown }
    chunk?: ChatChunk
  }
  if (message.chunk !== undefined) flight.push(message.chunk)
  else if (
    typeof message.served?.provider === 'string' &&
    typeof message.served.model === 'string'
  ) {
    flight.provider = message.served.provider
    flight.model = message.served.model
  }
}

/** The final text of another process's relay: its answer, or `null` when it holds none. */
const relayedAnswer = (text: string): ChatResult | WholeBody | null => {
  try {
    const message = JSON.parse(text) as { answer?: ChatResult; whole?: WholeBody }
    if (Array.isArray(message.answer?.choices)) return message.answer
    if (typeof message.whole?.body === 'string') return message.whole
  } catch {
    // not ours: no answer
  }
  return null
}

const utf8 = new TextDecoder()

/** A store's text as the answer it holds; `null` for anything else (another version, a value not ours). */
const parseStoredAnswer = (text: string): StoredAnswer | null => {
  try {
    const entry = JSON.parse(text) as StoredAnswer
    if (entry?.v !== 1) return null
    if (!Array.isArray(entry.answer?.choices) && typeof entry.whole?.body !== 'string') return null
    return entry
  } catch {
    return null
  }
}

/**
 * The whole body an embeddings call answered, when it holds embeddings (a JSON object with `data`); else `null`.
 * Chat-shaped calls are kept as their canonical answer instead.
 */
const wholeBodyOf = (operation: Operation, end: CacheCallEnd): WholeBody | null => {
  if (operation !== 'embeddings' || end.body == null) return null
  const body = utf8.decode(end.body)
  if (!/^\s*\{/.test(body) || !body.includes('"data"')) return null
  return { body, usage: end.usage ?? null }
}

/** How long past its call's total timeout a flight may stay open before its followers give up on it. */
const flightGraceMs = 5_000

class PromptCacheImpl {
  readonly flights = new Flights()
  /** Single-flight across processes, where the store is shared. */
  readonly shared: SharedFlights | undefined
  readonly flightWaitMs: number
  readonly defer: (work: Promise<unknown>) => void
  readonly prices: PriceTable
  readonly clock: Clock
  private readonly options: PromptCacheOptions

  readonly sha256Hex: Sha256Hex | undefined

  constructor(options: PromptCacheOptions) {
    this.options = options
    this.sha256Hex = options.sha256Hex
    this.prices = options.prices
    this.clock = options.clock
    this.shared = options.store.flights
    this.flightWaitMs = options.config.flightWaitMs
    this.defer = options.defer
  }

  enabledFor(route: CallRoute): boolean {
    return this.policyFor(route).enabled
  }

  policyFor(route: CallRoute): CachePolicy {
    const config = this.options.config
    return (route.name !== null ? config.routes[route.name] : undefined) ?? config.defaults
  }

  /** The stored answer under `key` (parsed once per stored value: the store's memo keeps it), and its age. */
  async read(
    key: string,
    maxAgeMs: number | null
  ): Promise<{ read: ReadAnswer; ageMs: number } | null> {
    let stored
    try {
      stored = await this.options.store.get(key)
    } catch (error) {
      this.options.logger.error({ err: error }, 'prompt cache: the store failed a read')
      return null
    }
    if (stored === null || (maxAgeMs !== null && stored.ageMs > maxAgeMs)) return null
    const memo = stored.memo
    if (memo?.derived !== undefined)
      return { read: memo.derived as ReadAnswer, ageMs: stored.ageMs }
    const entry = parseStoredAnswer(stored.value)
    if (entry === null) return null
    const read: ReadAnswer = { entry, encoded: new Map() }
    if (memo !== undefined) memo.derived = read
    return { read, ageMs: stored.ageMs }
  }

  /** What a stored answer cost upstream, at today's prices: computed once per stored value and price table. */
  savedCostOf(read: ReadAnswer): number | null {
    const prices = this.prices
    if (read.saved?.prices === prices) return read.saved.micros
    const { entry } = read
    const usage = entry.answer?.usage ?? entry.whole?.usage ?? null
    const micros =
      usage === null ? null : computeCost(usage, prices.priceFor(entry.provider, entry.model))
    read.saved = { prices, micros }
    return micros
  }

  /** Whether a complete answer may be stored under the policy. */
  storable(answer: ChatResult, policy: CachePolicy): boolean {
    if (answer.choices.length === 0) return false
    for (const choice of answer.choices) {
      const reason = choice.finishReason.unified
      if (reason === 'content-filter' || reason === 'error') return false
      if (policy.excludeFinishReasons.includes(reason)) return false
    }
    return true
  }

  write(options: {
    key: string
    entry: StoredAnswer
    tenant: string | null
    ttlMs: number
    request: CacheRequest
    then: () => void
  }): void {
    const { store, logger, observer, defer } = this.options
    const { key, entry, tenant, ttlMs, request } = options
    defer(
      store
        .set(key, JSON.stringify(entry), {
          tenant,
          model: `${entry.provider}/${entry.model}`,
          ttlMs,
        })
        .then(
          () =>
            observer.observe({
              type: 'cache-stored',
              requestId: request.requestId,
              operation: request.operation,
              ttlMs,
            }),
          (error: unknown) =>
            logger.error({ err: error, requestId: request.requestId }, 'prompt cache: write failed')
        )
        .finally(options.then)
    )
  }

  async open(request: CacheRequest): Promise<CacheSession | null> {
    const policy = this.policyFor(request.route)
    if (!policy.enabled) return null
    const controls = readCacheControls(request.requestHeaders)
    const session = new CacheSession(this, request, policy)
    await session.decide(controls)
    const hit = session.hit
    if (hit !== null && hit.source === 'flight')
      hit.savedCostMicroUsd = session.savedCost(hit.answer, hit.whole)
    this.options.observer.observe({
      type: 'cache',
      requestId: request.requestId,
      operation: request.operation,
      outcome: session.status,
      source: session.hit?.source ?? null,
      savedCostMicroUsd: session.hit?.savedCostMicroUsd ?? null,
    })
    return session
  }
}

export type PromptCache = {
  /** Whether the cache is on for `route` (when not, `open` answers `null`): a lookup, no promise. */
  enabledFor(route: CallRoute): boolean
  /** `null`: the cache is off for this request's route. Throws a 400 for a malformed cache header. */
  open(request: CacheRequest): Promise<CacheSession | null>
  /** Identical requests waiting on a leader, by key (for tests and metrics). */
  readonly flights: Flights
}

export const createPromptCache = (options: PromptCacheOptions): PromptCache =>
  new PromptCacheImpl(options)
