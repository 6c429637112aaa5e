/**
 * The contract harness proved on a store small enough to live here: a key-value store with an in-memory and a
 * Redis-backed implementation (over the raw RESP client), run through the same cases by `defineStoreContract`; then
 * the helpers a real store suite uses (the Redis key prefix, the throwaway PostgreSQL database, the reachability
 * check), each against the real service. How the harness treats an unreachable service (fail under CI, skip
 * elsewhere) is checked by running a fixture suite in a child vitest.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkStoreService, storeServiceUrl } from './check-store-service.ts'
import { connectRawRedis } from './connect-raw-redis.ts'
import type { RawRedis } from './connect-raw-redis.ts'
import { createRedisTestPrefix } from './create-redis-test-prefix.ts'
import {
  createThrowawayPostgresDatabase,
  runPostgresStatement,
} from './create-throwaway-postgres-database.ts'
import { defineStoreContract, requireStoreService } from './define-store-contract.ts'

type KeyValueStore = {
  get(key: string): Promise<string | null>
  set(key: string, value: string): Promise<void>
  /** `true` when the key existed. */
  delete(key: string): Promise<boolean>
  keys(): Promise<string[]>
}

const createMemoryKeyValueStore = (): KeyValueStore => {
  const entries = new Map<string, string>()
  return {
    get: async (key) => entries.get(key) ?? null,
    set: async (key, value) => void entries.set(key, value),
    delete: async (key) => entries.delete(key),
    keys: async () => [...entries.keys()],
  }
}

const createRedisKeyValueStore = (options: { redis: RawRedis; prefix: string }): KeyValueStore => {
  const { redis, prefix } = options
  return {
    get: async (key) => (await redis.command('GET', prefix + key)) as string | null,
    set: async (key, value) => void (await redis.command('SET', prefix + key, value)),
    delete: async (key) => (await redis.command('DEL', prefix + key)) === 1,
    keys: async () =>
      ((await redis.command('KEYS', `${prefix}*`)) as string[]).map((key) =>
        key.slice(prefix.length)
      ),
  }
}

defineStoreContract<KeyValueStore>({
  name: 'key-value store',
  implementations: [
    { name: 'memory', create: async () => ({ store: createMemoryKeyValueStore() }) },
    {
      name: 'redis',
      requires: 'redis',
      create: async () => {
        const keys = createRedisTestPrefix({ label: 'harness' })
        const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
        return {
          store: createRedisKeyValueStore({ redis, prefix: keys.prefix }),
          cleanup: async () => {
            await redis.close()
            await keys.cleanup()
          },
        }
      },
    },
  ],
  cases: (getStore) => {
    it('starts empty: nothing is left over from another case', async () => {
      expect(await getStore().keys()).toEqual([])
      await getStore().set('left-behind', 'by this case')
    })

    it('returns what was set, and null for a key never set', async () => {
      await getStore().set('alpha', 'one')
      expect(await getStore().get('alpha')).toBe('one')
      expect(await getStore().get('beta')).toBeNull()
    })

    it('overwrites a value, keeping one key', async () => {
      await getStore().set('alpha', 'one')
      await getStore().set('alpha', 'two')
      expect(await getStore().get('alpha')).toBe('two')
      expect(await getStore().keys()).toEqual(['alpha'])
    })

    it('deletes a key once: true the first time, false after', async () => {
      await getStore().set('alpha', 'one')
      expect(await getStore().delete('alpha')).toBe(true)
      expect(await getStore().delete('alpha')).toBe(false)
      expect(await getStore().get('alpha')).toBeNull()
    })
  },
})

describe('createRedisTestPrefix', () => {
  requireStoreService('redis')

  it('is unique per call, and its cleanup deletes the keys under it and no other', async () => {
    const first = createRedisTestPrefix({ label: 'cleanup' })
    const second = createRedisTestPrefix({ label: 'cleanup' })
    expect(first.prefix).not.toBe(second.prefix)
    expect(first.prefix).toMatch(/^gatehouse-test:cleanup:[0-9a-f]{12}:$/)
    const redis = await connectRawRedis({ url: storeServiceUrl('redis') })
    try {
      await redis.command('SET', `${first.prefix}a`, '1')
      await redis.command('SET', `${first.prefix}b:c`, '2')
      await redis.command('SET', `${second.prefix}a`, '3')
      // A neighbour that a glob-unsafe or `startsWith`-less match would also catch.
      await redis.command('SET', first.prefix.slice(0, -1), '4')
      expect(await first.cleanup()).toBe(2)
      expect(await redis.command('EXISTS', `${first.prefix}a`, `${first.prefix}b:c`)).toBe(0)
      expect(await redis.command('GET', `${second.prefix}a`)).toBe('3')
      expect(await redis.command('GET', first.prefix.slice(0, -1))).toBe('4')
    } finally {
      await redis.command('DEL', `${second.prefix}a`, first.prefix.slice(0, -1))
      await redis.close()
    }
  })
})

describe('createThrowawayPostgresDatabase', () => {
  requireStoreService('postgres')

  const exists = async (name: string): Promise<boolean> =>
    (await runPostgresStatement({
      url: storeServiceUrl('postgres'),
      sql: `SELECT count(*) FROM pg_database WHERE datname = '${name}'`,
    })) === '1'

  it('creates an empty database that takes tables, and drops it', async () => {
    const database = await createThrowawayPostgresDatabase()
    try {
      expect(database.name).toMatch(/^gatehouse_test_[0-9a-f]{12}$/)
      expect(new URL(database.url).pathname).toBe(`/${database.name}`)
      expect(await exists(database.name)).toBe(true)
      await runPostgresStatement({ url: database.url, sql: 'CREATE TABLE probe (id int)' })
      expect(
        await runPostgresStatement({
          url: database.url,
          sql: "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        })
      ).toBe('1')
    } finally {
      await database.drop()
    }
    expect(await exists(database.name)).toBe(false)
  })
})

describe('checkStoreService', () => {
  /** A port nothing listens on: bound, then released. */
  const closedPort = async (): Promise<number> => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    return port
  }

  it('names the service and the address it could not reach', async () => {
    const port = await closedPort()
    expect(await checkStoreService('redis', { url: `redis://127.0.0.1:${port}` })).toBe(
      `Redis at redis://127.0.0.1:${port} is unreachable: ECONNREFUSED`
    )
    expect(
      await checkStoreService('postgres', {
        url: `postgres://postgres:secret@127.0.0.1:${port}/postgres`,
      })
    ).toBe(
      `PostgreSQL at postgres://postgres:***@127.0.0.1:${port}/postgres is unreachable: ECONNREFUSED`
    )
  })

  it('refuses a port where another service answers', async () => {
    const server = createServer((socket) => {
      socket.resume()
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      expect(
        await checkStoreService('redis', { url: `redis://127.0.0.1:${port}`, timeoutMs: 1_000 })
      ).toMatch(/^Redis at .* is unreachable: /)
      expect(
        await checkStoreService('postgres', {
          url: `postgres://127.0.0.1:${port}`,
          timeoutMs: 1_000,
        })
      ).toMatch(
        /^PostgreSQL at .* is unreachable: the server does not speak the PostgreSQL protocol$/
      )
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('defineStoreContract with a service that is down', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const fixtureConfig = join(root, 'test', 'contract', '__fixtures__', 'vitest.config.ts')

  type Report = {
    success: boolean
    testResults: {
      assertionResults: { fullName: string; status: string; failureMessages: string[] }[]
    }[]
  }

  /** Runs the fixture suite (memory + a Redis implementation pointed at a closed port) in a child vitest. */
  const runFixture = async (ci: string): Promise<Report> => {
    const directory = mkdtempSync(join(tmpdir(), 'gatehouse-contract-'))
    const outputFile = join(directory, 'report.json')
    try {
      await new Promise<void>((resolve) => {
        execFile(
          process.execPath,
          [
            join(root, 'node_modules', 'vitest', 'vitest.mjs'),
            'run',
            '--config',
            fixtureConfig,
            '--reporter=json',
            `--outputFile=${outputFile}`,
          ],
          {
            cwd: root,
            env: { ...process.env, CI: ci, GATEHOUSE_TEST_REDIS_URL: 'redis://127.0.0.1:1' },
            timeout: 60_000,
          },
          () => resolve()
        )
      })
      return JSON.parse(readFileSync(outputFile, 'utf8')) as Report
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  }

  const statuses = (report: Report): Record<string, string> =>
    Object.fromEntries(
      report.testResults
        .flatMap((file) => file.assertionResults)
        .map((test) => [test.fullName, test.status])
    )

  it('skips its cases outside CI and runs the others', async () => {
    const report = await runFixture('')
    expect(report.success).toBe(true)
    expect(statuses(report)).toEqual({
      'fixture store (memory) stores a value': 'passed',
      'fixture store (memory) starts empty': 'passed',
      'fixture store (down) stores a value': 'skipped',
      'fixture store (down) starts empty': 'skipped',
    })
  }, 60_000)

  it('fails its cases under CI=true, naming the service, and still runs the others', async () => {
    const report = await runFixture('true')
    expect(report.success).toBe(false)
    expect(statuses(report)).toEqual({
      'fixture store (memory) stores a value': 'passed',
      'fixture store (memory) starts empty': 'passed',
      'fixture store (down) stores a value': 'failed',
      'fixture store (down) starts empty': 'failed',
    })
    const failure = report.testResults
      .flatMap((file) => file.assertionResults)
      .find((test) => test.status === 'failed')
    expect(failure?.failureMessages.join('\n')).toContain(
      'Redis at redis://127.0.0.1:1 is unreachable'
    )
  }, 60_000)
})
