/**
 * Where the services that store implementations need run in tests, and whether they answer. Defaults are the local
 * services (Redis on 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 as `postgres` with trust auth); CI or a developer
 * with other ports sets `GATEHOUSE_TEST_REDIS_URL` / `GATEHOUSE_TEST_POSTGRES_URL`. Namespaced variables, not
 * `REDIS_URL` / `DATABASE_URL`: a test run must never pick up the address of a real deployment from the shell.
 */
import { connect } from 'node:net'
import { connectRawRedis } from './connect-raw-redis.ts'

export type StoreService = 'redis' | 'postgres'

const defaultUrls: Record<StoreService, string> = {
  redis: 'redis://127.0.0.1:6379',
  postgres: 'postgres://postgres@127.0.0.1:5432/postgres',
}

const urlVariables: Record<StoreService, string> = {
  redis: 'GATEHOUSE_TEST_REDIS_URL',
  postgres: 'GATEHOUSE_TEST_POSTGRES_URL',
}

const serviceNames: Record<StoreService, string> = { redis: 'Redis', postgres: 'PostgreSQL' }

/** The URL tests reach `service` at. */
export const storeServiceUrl = (service: StoreService): string =>
  process.env[urlVariables[service]] || defaultUrls[service]

/** `url` for a message: a password in it never reaches test output. */
const displayUrl = (url: string): string => {
  const parsed = new URL(url)
  if (parsed.password !== '') parsed.password = '***'
  return parsed.href
}

const describeError = (error: unknown): string =>
  (error as { code?: string }).code ?? (error as Error).message

/** `PING` must answer `PONG`: a port that accepts connections is not yet a working Redis. */
const checkRedis = async (url: string, timeoutMs: number): Promise<string | null> => {
  const redis = await connectRawRedis({ url, timeoutMs })
  try {
    const reply = await Promise.race([
      redis.command('PING'),
      new Promise((resolve) =>
        setTimeout(resolve, timeoutMs, `no answer to PING within ${timeoutMs} ms`)
      ),
    ])
    return reply === 'PONG' ? null : `PING answered ${JSON.stringify(reply)}`
  } finally {
    await redis.close()
  }
}

/**
 * PostgreSQL's `SSLRequest` (https://www.postgresql.org/docs/current/protocol-message-formats.html): a server answers
 * one byte, `S` or `N`, before any authentication, so this checks the protocol without credentials or a client library.
 */
const checkPostgres = (url: string, timeoutMs: number): Promise<string | null> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port || 5432) })
    const finish = (problem: string | null): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(problem)
    }
    const timer = setTimeout(() => finish(`no answer within ${timeoutMs} ms`), timeoutMs)
    socket.once('error', (error) => finish(describeError(error)))
    socket.once('connect', () => socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])))
    socket.once('data', (chunk: Buffer) => {
      const answer = String.fromCharCode(chunk[0])
      finish(
        answer === 'S' || answer === 'N'
          ? null
          : 'the server does not speak the PostgreSQL protocol'
      )
    })
  })

/**
 * `null` when `service` answers at its URL, else why not, as a sentence naming the service and where it was looked
 * for (`Redis at redis://127.0.0.1:6379 is unreachable: ECONNREFUSED`).
 */
export const checkStoreService = async (
  service: StoreService,
  options: { url?: string; timeoutMs?: number } = {}
): Promise<string | null> => {
  const url = options.url ?? storeServiceUrl(service)
  const timeoutMs = options.timeoutMs ?? 2_000
  let problem: string | null
  try {
    problem =
      service === 'redis' ? await checkRedis(url, timeoutMs) : await checkPostgres(url, timeoutMs)
  } catch (error) {
    problem = describeError(error)
  }
  return problem === null
    ? null
    : `${serviceNames[service]} at ${displayUrl(url)} is unreachable: ${problem}`
}
