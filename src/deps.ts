/**
 * Everything the app needs from the outside world, built by a runtime entry (src/runtime/node-deps.ts,
 * workers-deps.ts) and injected into `createApp`. Nothing below the runtime folder reads the environment or imports
 * runtime modules, and the core takes only the narrow parts it uses (`ExecutorDeps`), never this type.
 */
import type { AbortHandle } from '../providers/spec/provider-adapter.ts'
import type { StreamBodyFactory } from './api/response-body.ts'
import type { Clock } from './core/clock.ts'
import type { ExecutionObserver } from './core/execution-observer.ts'
import type { Logger } from './core/logger.ts'
import type { ModelVersionManager } from './core/model-version-manager.ts'
import type { ProviderRegistry } from './core/provider-registry.ts'
import type { ResolvedConfig } from './core/resolve-config.ts'
import type { UsageSink } from './core/usage.ts'
import type { Authenticator } from './middleware/authenticate.ts'
import type { Closable, Stores } from './stores/types.ts'
import type { Sha256Hex } from './core/cache/cache-key.ts'

export interface AssetSource {
  /** `name` is a file of swagger-ui-dist (`swagger-ui-bundle.js`); `null` when absent. */
  get(name: string): Promise<Response | null>
}

export type Deps = {
  config: ResolvedConfig
  providers: ProviderRegistry
  /** State shared beyond one request (`src/stores/types.ts`). */
  stores: Stores
  /** The one way usage leaves a request: every `/v1` request records one event here. */
  usage: UsageSink
  /** Subscribers to what the executor does (attempts, retries, fallbacks, breaker changes, stream ends). */
  observers: readonly ExecutionObserver[]
  /**
   * What the runtime closes at shutdown, in this order, after the drain and the deferred work: what still records
   * usage (the background poller) first, then the usage sink (its events flushed before exit), then what it may still
   * write to.
   */
  closables: readonly Closable[]
  clock: Clock
  logger: Logger
  /** Work after the response (usage writes, cache writes): Workers' `ctx.waitUntil`, a tracked promise set on Node. */
  defer: (work: Promise<unknown>) => void
  authenticator: Authenticator
  /** Static files the gateway serves itself (the docs page's swagger-ui assets): no CDN, works offline. */
  assets: AssetSource
  /** Set on shutdown: `/readyz` answers 503. */
  isDraining: () => boolean
  /**
   * Why this instance cannot serve a model call whatever comes (a Worker whose master key secret is not set), which
   * `/readyz` answers with a 503; absent when it can.
   */
  unready?: string
  /**
   * Fires when the client goes away before its response is complete: the executor aborts the upstream call then.
   * `env` is what the runtime passed to `app.fetch` (`c.env`). Workers: `request.signal`; Node: `node-client-signal.ts`.
   */
  clientSignal: (request: Request, env: unknown) => AbortHandle
  /**
   * What carries a streamed body to the client. Absent: a Web `ReadableStream` (Workers, tests). Node:
   * `node-stream-body.ts`, which @hono/node-server writes without a Web stream in between.
   */
  streamBody?: StreamBodyFactory
  /**
   * SHA-256 as hex for the prompt cache's keys, where the runtime has a synchronous one (Node: `createHash`). Absent:
   * Web Crypto's `digest`, which on Node is a thread-pool round trip (about 0.1 ms) per key.
   */
  sha256Hex?: Sha256Hex
  /**
   * Polls providers for the background responses the gateway forwarded, until they finish, to record their usage
   * (Node: `api/openai-responses/background-poller.ts`, closed with `closables`): when a new one is first polled, and
   * a wake-up for then. Absent where there is none (Workers, which has no response store).
   */
  backgroundPoller?: { firstPollAt(createdAt: number): number; wake(at: number): void }
  /**
   * The versions of the models the gateway runs itself (the local model's), for the admin API: kept in the database
   * and followed across processes on Node. Absent: the admin routes make one over `providers` alone (Workers, tests).
   */
  modelVersions?: ModelVersionManager
}
