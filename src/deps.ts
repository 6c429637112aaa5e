/**
 * Everything the app needs from the outside world, built by a runtime entry (src/runtime/node.ts, workers.ts) and
 * injected into `createApp`. Nothing below the runtime folder reads the environment or imports runtime modules.
 */
import type { AbortHandle, UpstreamTransport } from '../providers/spec/provider-adapter.ts'
import type { ResolvedConfig } from './core/resolve-config.ts'
import type { StreamBodyFactory } from './api/response-body.ts'
import type { Clock } from './core/clock.ts'
import type { Logger } from './core/logger.ts'
import type { ProviderRegistry } from './core/provider-registry.ts'
import type { Authenticator } from './middleware/authenticate.ts'

export interface AssetSource {
  /** `name` is a file of swagger-ui-dist (`swagger-ui-bundle.js`); `null` when absent. */
  get(name: string): Promise<Response | null>
}

export type Deps = {
  config: ResolvedConfig
  providers: ProviderRegistry
  transport: UpstreamTransport
  clock: Clock
  logger: Logger
  /** Work after the response (usage writes, cache writes): Workers' `ctx.waitUntil`, a tracked promise set on Node. */
  defer: (work: Promise<unknown>) => void
  authenticator: Authenticator
  runtime: 'node' | 'workers'
  /** Static files the gateway serves itself (the docs page's swagger-ui assets): no CDN, works offline. */
  assets: AssetSource
  /** Set on shutdown: `/readyz` answers 503. */
  isDraining: () => boolean
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
}
