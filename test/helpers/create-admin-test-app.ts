/**
 * The whole app (`createApp`) over fake providers and real stores (`open-test-stores.ts`, and what a test adds, such as
 * the prompt cache's), with a fake clock shared by the routes and the stores, and small helpers to call the admin API
 * as the master key or as a tenant key.
 */
import { createApp } from '../../src/app.ts'
import type { Stores } from '../../src/stores/types.ts'
import type { FakeClock } from './fake-clock.ts'
import {
  createFakeAdapter,
  createFakeDeps,
  type FakeAdapter,
  type FakeDeps,
  type FakeDepsOptions,
} from './fake-deps.ts'
import { createTestAuthenticator, openTestStores, type TestStores } from './open-test-stores.ts'

export const masterKey = 'gh-admin-test-master-key'

export type AdminTestApp = TestStores & {
  deps: FakeDeps
  /** `key`: the bearer key (default the master key; `null`: none). */
  call(
    method: string,
    path: string,
    options?: { body?: unknown; key?: string | null; rawBody?: string }
  ): Promise<Response>
  /** `call`, expecting `status`, with the JSON body. */
  ok<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { body?: unknown; key?: string | null; status?: number }
  ): Promise<T>
}

export type AdminTestAppOptions = {
  /** Default: an `openai` and an `anthropic` adapter that answer nothing. */
  adapters?: FakeAdapter[]
  /** Default: one route, `team/fast`. */
  config?: FakeDepsOptions['config']
  /** Stores beside the tenants, usage and revocations ones (the prompt cache's), on the app's clock. */
  stores?: (clock: FakeClock) => Stores
}

export const createAdminTestApp = async (
  options: AdminTestAppOptions = {}
): Promise<AdminTestApp> => {
  const base = createFakeDeps({
    adapters: options.adapters ?? [
      createFakeAdapter({ id: 'openai' }),
      createFakeAdapter({ id: 'anthropic', dialect: 'anthropic' }),
    ],
    config: options.config ?? {
      routes: [{ name: 'team/fast', targets: [{ provider: 'openai', model: 'gpt-4o' }] }],
    },
  })
  const opened = await openTestStores(base.clock)
  Object.assign(opened.stores, options.stores?.(base.clock))
  const deps: FakeDeps = {
    ...base,
    stores: opened.stores,
    authenticator: createTestAuthenticator({ masterKey, stores: opened.stores, clock: base.clock }),
  }
  const app = createApp(deps)
  const call: AdminTestApp['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = {}
    const key = options.key === undefined ? masterKey : options.key
    if (key !== null) headers.authorization = `Bearer ${key}`
    let body: string | undefined = options.rawBody
    if (options.body !== undefined) body = JSON.stringify(options.body)
    if (body !== undefined) headers['content-type'] = 'application/json'
    return app.request(path, { method, headers, body })
  }
  const ok: AdminTestApp['ok'] = async (method, path, options = {}) => {
    const response = await call(method, path, options)
    const text = await response.text()
    if (response.status !== (options.status ?? 200))
      throw new Error(
        `${method} ${path}: expected ${options.status ?? 200}, got ${response.status}: ${text}`
      )
    return JSON.parse(text)
  }
  return { ...opened, deps, call, ok }
}
