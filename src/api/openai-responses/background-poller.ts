/**
 * Polls providers for the background responses the gateway forwarded, so their usage is recorded and their budget
 * reservations settled even when no client retrieves them through the gateway (`background-usage.ts`).
 *
 * The response store is the schedule, and the source of truth: each response that owes usage has a poll time there.
 * A round takes the due ones (`takeDuePolls`, which leases each to this poller for `leaseMs`, so that another instance
 * does not ask at the same time), asks each provider (`GET /responses/{id}`, one attempt, at most `pollTimeoutMs`),
 * settles those that finished, and sets the next poll time of the others: 1 s after the create, then doubling (the
 * time since the create: 1, 2, 4, 8... s after it) up to every `maxDelayMs` (30 s), until `maxAgeMs` after the create,
 * when it gives up (the reservation is charged in full; a retrieve can no longer settle it). A provider that no longer
 * has the response (404, or no longer configured) is given up at once; any other failure is tried again at the next
 * poll time. Responses this instance created wake it when their first poll is due (`wake`); others (made by an
 * instance that stopped, or before a restart, or whose lease ran out) are found by a round every `sweepIntervalMs`.
 * Several instances share the work: a response is settled once however many ask (`claimSettlement`).
 *
 * Its timer never keeps the process alive (`unref`); `close` stops it, aborts the polls in flight and waits for the
 * round to end, so that a settlement started is recorded before the usage sink closes.
 */
import type { Clock } from '../../core/clock.ts'
import { defaultBackgroundPolling, type BackgroundPolling } from '../../core/resolve-config.ts'
import { createAbortToken } from '../../core/abort-token.ts'
import { GatewayError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { ProviderRegistry } from '../../core/provider-registry.ts'
import type { DuePoll, ResponseStore } from '../../stores/response-store.ts'
import type { Closable } from '../../stores/types.ts'
import { isFinishedResponse, type BackgroundUsageSettler } from './background-usage.ts'
import { fetchStoredObject, parseJsonBody } from './proxy-stored-response.ts'

export type BackgroundPollSettings = BackgroundPolling

export type BackgroundPoller = Closable & {
  /** When a response created at `createdAt` is first polled: its record's poll time. */
  firstPollAt(createdAt: number): number
  /** A response was recorded with poll time `at`: poll then, rather than at the next sweep. */
  wake(at: number): void
  /** Runs rounds now until no due response is left (tests); resolves with how many responses were polled. */
  runNow(): Promise<number>
}

/** The wait before the next poll of a response `age` ms old: its age, within the settings' bounds. */
export const nextPollDelay = (age: number, settings: BackgroundPollSettings): number =>
  Math.min(settings.maxDelayMs, Math.max(settings.initialDelayMs, age))

const wakeGranularityMs = 100
const maxWakes = 10_000

export const createBackgroundPoller = (options: {
  store: ResponseStore
  providers: Pick<ProviderRegistry, 'get'>
  settler: BackgroundUsageSettler
  clock: Clock
  logger: Logger
  settings?: Partial<BackgroundPollSettings>
  /** How long one poll may take (default 30 s). A taken response is leased twice as long. */
  pollTimeoutMs?: number
  /** Responses per round, polled together (default 16). */
  batchSize?: number
}): BackgroundPoller => {
  const { store, clock, logger, settler } = options
  const settings = { ...defaultBackgroundPolling, ...options.settings }
  const pollTimeoutMs = options.pollTimeoutMs ?? 30_000
  const leaseMs = 2 * pollTimeoutMs
  const batchSize = options.batchSize ?? 16
  const stopping = createAbortToken()
  /** Poll times this instance knows of, ascending (its own creates' and those it set). */
  const wakes: number[] = []
  let timer: unknown = null
  let timerAt = Infinity
  let running: Promise<number> | null = null
  let stopped = false

  /** Rounds up to a granularity, so that polls due a few milliseconds apart share one round (one store query). */
  const addWake = (time: number): void => {
    const at = Math.ceil(time / wakeGranularityMs) * wakeGranularityMs
    let index = wakes.length
    while (index > 0 && wakes[index - 1] > at) index -= 1
    if (wakes[index - 1] === at) return
    wakes.splice(index, 0, at)
    // The latest go first when there are too many: the sweep finds their responses anyway.
    if (wakes.length > maxWakes) wakes.length = maxWakes
  }

  const schedule = (): void => {
    if (stopped || running !== null) return
    const now = clock.now()
    const at = Math.min(wakes[0] ?? Infinity, now + settings.sweepIntervalMs)
    if (timer !== null) {
      if (timerAt <= at) return
      clock.clearTimeout(timer)
    }
    timerAt = at
    timer = clock.setTimeout(
      () => {
        timer = null
        timerAt = Infinity
        void runNow()
      },
      Math.max(0, at - now)
    )
    // The poller must not keep a Node process alive on its own.
    ;(timer as { unref?: () => void } | null)?.unref?.()
  }

  /** Sets the response's next poll time, or gives it up when that would pass its age bound. */
  const reschedule = async (due: DuePoll): Promise<void> => {
    const now = clock.now()
    const age = now - due.createdAt
    const at = now + nextPollDelay(age, settings)
    if (at - due.createdAt > settings.maxAgeMs) {
      await settler.abandon(
        due.id,
        { tenantId: due.tenantId },
        `still running ${Math.round(age / 1_000)} s after its create, past the poller's bound (${settings.maxAgeMs} ms)`
      )
      return
    }
    await store.schedulePoll(due.id, at)
    addWake(at)
  }

  const poll = async (due: DuePoll): Promise<void> => {
    const scope = { tenantId: due.tenantId }
    const provider = due.provider === null ? undefined : options.providers.get(due.provider)
    if (provider?.adapter.requestStored === undefined) {
      await settler.abandon(
        due.id,
        scope,
        `its provider (${String(due.provider)}) is not configured`
      )
      return
    }
    try {
      const { body } = await fetchStoredObject({
        provider,
        request: { operation: 'responses', method: 'GET', id: due.id, query: [] },
        clock,
        signal: stopping,
        requestId: `poll-${due.id}`,
        timeoutMs: pollTimeoutMs,
      })
      const response = parseJsonBody(body)
      if (isFinishedResponse(response, due.id)) {
        await settler.settle(due.id, scope, response)
        return
      }
    } catch (error) {
      if (stopped) return // shutdown aborted it: the lease runs out, and another instance (or the next start) goes on
      if (error instanceof GatewayError && error.status === 404) {
        await settler.abandon(due.id, scope, 'its provider no longer has it')
        return
      }
      logger.warn(
        {
          responseId: due.id,
          provider: due.provider,
          error: error instanceof Error ? error.message : String(error),
        },
        'background response: polling its provider failed; trying again later'
      )
    }
    await reschedule(due)
  }

  const round = async (): Promise<number> => {
    const now = clock.now()
    while (wakes.length > 0 && wakes[0] <= now) wakes.shift()
    const due = await store.takeDuePolls({
      now,
      leaseUntil: now + leaseMs,
      createdSince: now - settings.maxAgeMs,
      limit: batchSize,
    })
    await Promise.all(
      due.map((each) =>
        poll(each).catch((error: unknown) =>
          logger.error({ err: error, responseId: each.id }, 'background response: poll failed')
        )
      )
    )
    return due.length
  }

  const runNow = (): Promise<number> => {
    if (running !== null) return running
    running = (async () => {
      let polled = 0
      try {
        for (;;) {
          if (stopped) break
          const count = await round()
          polled += count
          // A full batch: more may be due at once.
          if (count < batchSize) break
        }
      } catch (error) {
        if (!stopped)
          logger.error(
            { err: error },
            'background responses: the poll round failed; trying again later'
          )
      }
      return polled
    })().finally(() => {
      running = null
      schedule()
    })
    return running
  }

  // At once after start: what an instance that stopped left to settle.
  addWake(clock.now())
  schedule()

  return {
    name: 'background response poller',
    firstPollAt: (createdAt) => createdAt + settings.initialDelayMs,
    wake: (at) => {
      if (stopped) return
      addWake(at)
      schedule()
    },
    runNow,
    close: async () => {
      stopped = true
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
      stopping.abort(new Error('shutting down'))
      await running?.catch(() => {})
    },
  }
}
