/**
 * Quota taken from the shared store in blocks: a busy key's requests are admitted from a block this process took a
 * moment ago, instead of one Redis script each way per request, while the store keeps every limit and budget exact.
 *
 * How a block works. When a key and its tenant are far from every limit (after the block, at least `headroomFactor`
 * times the block is left in each: requests, tokens, budget) and the key is busy in this process (at least `minBlock`
 * requests in the last `blockMs`), the next request takes a block for as many requests as came in the last `blockMs`
 * (a quarter more, at most `maxBlock`): their requests, tokens and worst-case cost, in one atomic step with the same
 * checks as a single request (`BlockAdmission.admitBlock`). For `blockMs` (200 ms) this process admits the key's
 * requests from the block, with no round trip; a request the block cannot cover (it is spent, or the request is
 * larger than what is left) takes a new block or, near a limit, goes to the store alone. Near a limit nothing changes:
 * every request is checked alone, exactly as without blocks, so a limit of N still admits N and refuses N+1.
 *
 * Exactness. The block's log entry is stamped at the end of its `blockMs`, past every request it admits, so each of
 * them counts in the sliding window at least 60 s (at most `blockMs` longer): no window ever holds more than its
 * limit, across processes. What a block has not used is handed back when it closes (at `blockMs`, or once spent): its
 * unused requests at once, its tokens and reservation down to what its requests in flight still hold, then to what
 * they really used when the last of them settles (`BlockAdmission.rebook`), adding their real cost to the spend. While
 * a block is open, another process near the limit may be refused for quota this one holds but has not used (at most
 * one block per busy key and process, for at most `blockMs`); far from the limit, which is the only time blocks are
 * taken, that cannot refuse anyone.
 *
 * Not in blocks: keys or tenants with a concurrency limit (a slot is held per request), and requests whose ticket may
 * be split and settled elsewhere (`AdmissionRequest.splittable`: background responses). A process that dies with a
 * block open leaves its requests and tokens counted for their window and its reservation until its TTL, and the real
 * cost of the block's finished requests is not added to the shared spend (the usage store has it, and counters are
 * seeded from there in each new period); shutdown closes every block (`close`).
 *
 * A peek (`AdmissionStore.peek`, the headers of a response that took nothing) reads the shared store, and counts what
 * this process's open block for the key has not used as still the key's, as the requests admitted from it report.
 */
import type { Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import {
  defaultHoldTtlMs,
  validateAdmissionUsage,
  type AdmissionBudgetEntry,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionStore,
  type AdmissionSubject,
  type AdmissionTicket,
  type AdmittedBlock,
  type BlockAdmission,
  type BlockBooking,
} from './admission-store.ts'
import type { BudgetState } from './budgets.ts'
import type { LimitScope, RateLimitState } from './rate-limits.ts'

/**
 * A limit's state as a request admitted from a block reports it: what the block has not used yet is still the key's.
 * Every request of a busy key comes through here and `withUnusedCost`: the states are written out field by field, not
 * spread with a property after it (`takeFrom` allocated 1,237 bytes a request against 1,393, `MEASURE_HEAP=1`).
 */
const withUnusedRequests = (
  state: RateLimitState,
  unusedRequests: number,
  unusedTokens: number
): RateLimitState => ({
  scope: state.scope,
  dimension: state.dimension,
  limit: state.limit,
  remaining:
    state.dimension === 'requests'
      ? state.remaining + unusedRequests
      : state.dimension === 'tokens'
        ? state.remaining + unusedTokens
        : state.remaining,
  resetMs: state.resetMs,
})

/** A budget's state as a request admitted from a block reports it: the block's unused reservation is not reserved. */
const withUnusedCost = (state: BudgetState, unusedCost: number): BudgetState => ({
  scope: state.scope,
  period: state.period,
  periodStart: state.periodStart,
  periodEnd: state.periodEnd,
  limitMicroUsd: state.limitMicroUsd,
  spentMicroUsd: state.spentMicroUsd,
  reservedMicroUsd: state.reservedMicroUsd - unusedCost,
  remainingMicroUsd: state.remainingMicroUsd + unusedCost,
})

export type QuotaBlockOptions = {
  store: AdmissionStore & BlockAdmission
  clock: Clock
  logger: Logger
  /** How long a block admits requests, in ms; 200. 0: no blocks (every request goes to the store). */
  blockMs?: number
  /** How many blocks' worth must be left of every limit and budget for a block to be taken; 8. */
  headroomFactor?: number
  /** The fewest requests in a block (and in the last `blockMs`, for a block to be taken); 4. */
  minBlock?: number
  /** The most requests in a block; 512. */
  maxBlock?: number
}

export type QuotaBlockAdmission = AdmissionStore & {
  /** Closes every open block and waits until what they hold is handed back (shutdown, after the drain). */
  close(): Promise<void>
}

/** What is left of a key's limits and budgets, the last time the store said (`Infinity`: no limit). */
type Headroom = { requests: number; tokens: number; costMicroUsd: number; at: number }

type Block = {
  key: KeyState
  admitted: AdmittedBlock
  /** The states the store reported with the block taken. */
  rateLimits: RateLimitState[]
  budgets: BudgetState[]
  capacity: BlockBooking
  closesAt: number
  open: boolean
  /** Requests admitted from it, and their token estimates and reservations. */
  used: number
  tokensTaken: number
  costTaken: number
  inFlight: number
  inFlightTokens: number
  inFlightCost: number
  settledTokens: number
  settledCost: number
  /** What the store holds for it, and the spend already added. */
  booked: BlockBooking
  spentBooked: number
  chain: Promise<void>
  timer: ReturnType<typeof setTimeout> | null
}

type KeyState = {
  block: Block | null
  /** A block being taken: the key's other requests wait for it instead of going to the store. */
  pending: Promise<void> | null
  bucketStart: number
  arrivals: number
  lastArrivals: number
  headroom: Headroom | null
  /** The largest token estimate and cost of the key's recent requests, so a block fits the next ones. */
  tokensPerRequest: number
  costPerRequest: number
}

const settledAlready = Promise.resolve()

/** The concurrency slots a ticket taken from a block holds (none): one empty list for all of them, read only. */
const noScopes: readonly LimitScope[] = Object.freeze([])

/**
 * A ticket taken from a block, which knows its block until it is settled. In a private field rather than a
 * `WeakMap` from tickets to blocks: every request of a busy key takes one, and a weak map's entries cost about
 * 100 ns more a ticket in a loop, and the young generation's collector work for each. A copy of the ticket (a
 * spread, a structured clone, JSON) has no such field and settles through the store, which cannot tell it from a
 * settle that came after its reservation ended and counts its tokens and cost again: block tickets are not to be
 * copied (nothing does: a splittable request, whose ticket `splitTicket` copies, never takes a block).
 */
class BlockTicket implements AdmissionTicket {
  readonly id: string
  readonly tenantId: string
  readonly keyId: string
  readonly tokens: number
  readonly costMicroUsd: number
  readonly at: number
  readonly tokenScopes: readonly LimitScope[]
  readonly concurrentScopes: readonly LimitScope[] = noScopes
  readonly budgets: readonly AdmissionBudgetEntry[]
  readonly degraded = false
  #block: Block | null

  constructor(block: Block, request: AdmissionRequest) {
    const taken = block.admitted.ticket
    this.id = `${taken.id}.${block.used}`
    this.tenantId = taken.tenantId
    this.keyId = taken.keyId
    this.tokens = request.tokens
    this.costMicroUsd = request.costMicroUsd
    this.at = taken.at
    this.tokenScopes = taken.tokenScopes
    this.budgets = taken.budgets
    this.#block = block
  }

  /**
   * The block `ticket` was taken from, the first time it is asked; `'settled'` after that (a second settle does
   * nothing, as the store contract has it); `null` for a ticket that was not taken from a block.
   */
  static settling(ticket: AdmissionTicket): Block | 'settled' | null {
    if (!(#block in ticket)) return null
    const block = ticket.#block
    if (block === null) return 'settled'
    ticket.#block = null
    return block
  }
}

/** A headroom older than this is not trusted for taking a block: a single request refreshes it. */
const headroomFreshMs = 1_000

const hasConcurrency = (subject: AdmissionSubject): boolean =>
  (subject.limits.concurrentRequests ?? null) !== null

const sameSubject = (a: AdmissionSubject, b: AdmissionSubject): boolean =>
  a.id === b.id &&
  (a.limits.requestsPerMinute ?? null) === (b.limits.requestsPerMinute ?? null) &&
  (a.limits.tokensPerMinute ?? null) === (b.limits.tokensPerMinute ?? null) &&
  (a.limits.concurrentRequests ?? null) === (b.limits.concurrentRequests ?? null) &&
  a.budget?.limitMicroUsd === b.budget?.limitMicroUsd &&
  a.budget?.period === b.budget?.period

const headroomOf = (decision: AdmissionDecision, at: number): Headroom => {
  const headroom: Headroom = { requests: Infinity, tokens: Infinity, costMicroUsd: Infinity, at }
  for (const state of decision.rateLimits)
    if (state.dimension === 'requests')
      headroom.requests = Math.min(headroom.requests, state.remaining)
    else if (state.dimension === 'tokens')
      headroom.tokens = Math.min(headroom.tokens, state.remaining)
  for (const state of decision.budgets)
    headroom.costMicroUsd = Math.min(headroom.costMicroUsd, state.remainingMicroUsd)
  return headroom
}

export const createQuotaBlockAdmission = (options: QuotaBlockOptions): QuotaBlockAdmission => {
  const { store, clock, logger } = options
  const blockMs = options.blockMs ?? 200
  const headroomFactor = options.headroomFactor ?? 8
  const minBlock = options.minBlock ?? 4
  const maxBlock = options.maxBlock ?? 512
  const keys = new Map<string, KeyState>()
  const live = new Set<Block>()

  const stateOf = (request: AdmissionRequest, now: number): KeyState => {
    const name = `${request.tenant.id}\n${request.key.id}`
    let state = keys.get(name)
    if (state === undefined) {
      if (keys.size >= 10_000)
        for (const [other, entry] of keys)
          if (entry.block === null && entry.pending === null) keys.delete(other)
      state = {
        block: null,
        pending: null,
        bucketStart: now,
        arrivals: 0,
        lastArrivals: 0,
        headroom: null,
        tokensPerRequest: 0,
        costPerRequest: 0,
      }
      keys.set(name, state)
    }
    return state
  }

  const rebook = (block: Block, to: BlockBooking, spentMicroUsd: number): void => {
    const from = block.booked
    if (
      from.count === to.count &&
      from.tokens === to.tokens &&
      from.reservedMicroUsd === to.reservedMicroUsd &&
      spentMicroUsd === 0
    )
      return
    block.booked = to
    block.spentBooked += spentMicroUsd
    block.chain = block.chain
      .then(() => store.rebook(block.admitted, from, to, spentMicroUsd))
      .catch((error: unknown) =>
        logger.error({ err: error }, 'admission: handing back a quota block failed')
      )
  }

  /** Hands back what the block holds beyond its requests: all of it once none is in flight. */
  const settleBlock = (block: Block): void => {
    const spent = block.settledCost - block.spentBooked
    rebook(
      block,
      {
        count: block.used,
        tokens: block.settledTokens + block.inFlightTokens,
        reservedMicroUsd: block.inFlightCost,
      },
      spent
    )
    if (block.inFlight === 0) live.delete(block)
  }

  const closeBlock = (block: Block): void => {
    if (!block.open) return
    block.open = false
    if (block.timer !== null) clearTimeout(block.timer)
    if (block.key.block === block) block.key.block = null
    settleBlock(block)
  }

  const fits = (block: Block, request: AdmissionRequest, now: number): boolean => {
    const taken = block.admitted.request
    return (
      now < block.closesAt &&
      block.used < block.capacity.count &&
      block.tokensTaken + request.tokens <= block.capacity.tokens &&
      block.costTaken + request.costMicroUsd <= block.capacity.reservedMicroUsd &&
      (request.reservationTtlMs ?? defaultHoldTtlMs) <=
        (taken.reservationTtlMs ?? defaultHoldTtlMs) &&
      block.admitted.ticket.budgets.every(
        (entry) => entry.periodEnd === null || now < entry.periodEnd
      ) &&
      sameSubject(request.key, taken.key) &&
      sameSubject(request.tenant, taken.tenant)
    )
  }

  /** Admits the request from the block: a ticket of its own, and the states as this process last saw them. */
  const takeFrom = (block: Block, request: AdmissionRequest): AdmissionDecision => {
    block.used += 1
    block.tokensTaken += request.tokens
    block.costTaken += request.costMicroUsd
    block.inFlight += 1
    block.inFlightTokens += request.tokens
    block.inFlightCost += request.costMicroUsd
    const ticket = new BlockTicket(block, request)
    const unusedRequests = block.capacity.count - block.used
    const unusedTokens = block.capacity.tokens - block.tokensTaken
    const unusedCost = block.capacity.reservedMicroUsd - block.costTaken
    const rateLimits: RateLimitState[] = []
    for (const state of block.rateLimits)
      rateLimits.push(withUnusedRequests(state, unusedRequests, unusedTokens))
    const budgets: BudgetState[] = []
    for (const state of block.budgets) budgets.push(withUnusedCost(state, unusedCost))
    const decision: AdmissionDecision = { allowed: true, ticket, rateLimits, budgets }
    if (block.used >= block.capacity.count) closeBlock(block)
    return decision
  }

  /** How many requests the key's next block should hold: 0 when it should take none. */
  const blockSizeFor = (state: KeyState, now: number): number => {
    const headroom = state.headroom
    if (headroom === null || now - headroom.at > headroomFreshMs) return 0
    const rate = Math.max(state.lastArrivals, state.arrivals)
    if (rate < minBlock) return 0
    const count = Math.min(
      maxBlock,
      Math.ceil(rate * 1.25),
      Math.floor(headroom.requests / headroomFactor),
      Math.floor(headroom.tokens / (headroomFactor * Math.max(1, state.tokensPerRequest))),
      Math.floor(headroom.costMicroUsd / (headroomFactor * Math.max(1, state.costPerRequest)))
    )
    return count >= minBlock ? count : 0
  }

  const takeBlock = async (
    state: KeyState,
    request: AdmissionRequest,
    count: number
  ): Promise<AdmissionDecision | null> => {
    const sentAt = clock.now()
    const tokensEach = Math.max(request.tokens, state.tokensPerRequest)
    const costEach = Math.max(request.costMicroUsd, state.costPerRequest)
    const blockRequest: AdmissionRequest = {
      ...request,
      tokens: tokensEach * count,
      costMicroUsd: costEach * count,
    }
    const { decision, reservationEndsAt } = await store.admitBlock(blockRequest, count, blockMs)
    const now = clock.now()
    if (!decision.allowed) {
      // Closer to a limit than this process thought: single requests until one says otherwise.
      state.headroom = null
      return null
    }
    // The store did not answer and the gateway fails open: this request goes through, nothing was taken.
    if (decision.ticket.degraded) return decision
    state.headroom = headroomOf(decision, now)
    const block: Block = {
      key: state,
      admitted: { request: blockRequest, ticket: decision.ticket, reservationEndsAt },
      rateLimits: decision.rateLimits,
      budgets: decision.budgets,
      capacity: {
        count,
        tokens: blockRequest.tokens,
        reservedMicroUsd: blockRequest.costMicroUsd,
      },
      // From when it was asked for: the store stamped it `blockMs` after it ran, which is later.
      closesAt: sentAt + blockMs,
      open: true,
      used: 0,
      tokensTaken: 0,
      costTaken: 0,
      inFlight: 0,
      inFlightTokens: 0,
      inFlightCost: 0,
      settledTokens: 0,
      settledCost: 0,
      booked: { count, tokens: blockRequest.tokens, reservedMicroUsd: blockRequest.costMicroUsd },
      spentBooked: 0,
      chain: Promise.resolve(),
      timer: null,
    }
    live.add(block)
    const wait = block.closesAt - now
    if (wait <= 0) {
      block.open = false
      settleBlock(block)
      return null
    }
    block.timer = setTimeout(() => closeBlock(block), wait)
    block.timer.unref?.()
    if (state.block !== null) closeBlock(state.block)
    state.block = block
    return takeFrom(block, request)
  }

  /** The rest of `admit` when the open block, if any, cannot take the request: a block asked for, or the store. */
  const admitAsking = async (
    state: KeyState,
    request: AdmissionRequest
  ): Promise<AdmissionDecision> => {
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const current = state.block
      if (current !== null) {
        if (fits(current, request, clock.now())) return takeFrom(current, request)
        closeBlock(current)
      }
      if (state.pending !== null) {
        await state.pending
        continue
      }
      const count = blockSizeFor(state, clock.now())
      if (count === 0) break
      let done = (): void => {}
      state.pending = new Promise<void>((resolve) => (done = resolve))
      try {
        const decision = await takeBlock(state, request, count)
        if (decision !== null) return decision
      } finally {
        state.pending = null
        done()
      }
      break
    }
    const decision = await store.admit(request)
    if (!decision.allowed) state.headroom = null
    else if (!decision.ticket.degraded) state.headroom = headroomOf(decision, clock.now())
    return decision
  }

  return {
    // Not an async function: a request the open block takes is answered at once, without a promise.
    admit: (request) => {
      if (
        blockMs <= 0 ||
        request.splittable === true ||
        hasConcurrency(request.tenant) ||
        hasConcurrency(request.key)
      )
        return store.admit(request)
      const now = clock.now()
      const state = stateOf(request, now)
      if (now - state.bucketStart >= blockMs) {
        state.lastArrivals = now - state.bucketStart < 2 * blockMs ? state.arrivals : 0
        state.arrivals = 0
        state.bucketStart = now
      }
      state.arrivals += 1
      // Decays by a hundredth a request toward smaller requests, in whole numbers: a block asks for counts times
      // these, and the store takes integers only.
      state.tokensPerRequest = Math.max(request.tokens, Math.floor(state.tokensPerRequest * 0.99))
      state.costPerRequest = Math.max(request.costMicroUsd, Math.floor(state.costPerRequest * 0.99))
      const current = state.block
      if (current !== null && fits(current, request, clock.now())) return takeFrom(current, request)
      return admitAsking(state, request)
    },

    // Not an async function: a ticket of a block settles in memory, and hands back the block's own promise rather than
    // one more of its own (every request of a busy key comes through here).
    settle: (ticket, usage) => {
      try {
        validateAdmissionUsage(usage)
      } catch (error) {
        return Promise.reject(error)
      }
      const block = BlockTicket.settling(ticket)
      if (block === null) return store.settle(ticket, usage)
      // Settled before: passed to the store, it would count as a settle come after its reservation ended.
      if (block === 'settled') return settledAlready
      block.inFlight -= 1
      block.inFlightTokens -= ticket.tokens
      block.inFlightCost -= ticket.costMicroUsd
      block.settledTokens += usage.tokens ?? ticket.tokens
      block.settledCost += usage.costMicroUsd
      if (!block.open && block.inFlight === 0) settleBlock(block)
      return block.chain
    },

    peek: async (request) => {
      const states = await store.peek(request)
      const block = keys.get(`${request.tenant.id}\n${request.key.id}`)?.block ?? null
      if (
        states === null ||
        block === null ||
        !block.open ||
        clock.now() >= block.closesAt ||
        !sameSubject(request.key, block.admitted.request.key) ||
        !sameSubject(request.tenant, block.admitted.request.tenant)
      )
        return states
      // As `takeFrom` reports them: what this process's open block holds and has not used is still the key's.
      const unused = {
        requests: block.capacity.count - block.used,
        tokens: block.capacity.tokens - block.tokensTaken,
      }
      return states.map((state) =>
        state.dimension === 'concurrent'
          ? state
          : {
              ...state,
              remaining: Math.min(state.limit, state.remaining + unused[state.dimension]),
            }
      )
    },

    close: async () => {
      const blocks = [...live]
      for (const block of blocks) closeBlock(block)
      await Promise.all(blocks.map((block) => block.chain))
    },
  }
}
