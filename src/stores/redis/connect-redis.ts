/**
 * The ioredis connection the Redis stores share, with the options that make an outage fast to notice instead of a
 * queue that grows: a command sent while disconnected fails at once (the guard answers it with the operator's
 * fail-open or fail-closed choice), commands in flight when the connection drops fail rather than run minutes later,
 * and the client reconnects forever, backing off to 2 s.
 */
import { Redis } from 'ioredis'

export type ConnectRedisOptions = {
  /** `redis://[:password@]host:port[/db]` or `rediss://...` for TLS. */
  url: string
  /** Shown by `CLIENT LIST` (`gatehouse`, or a test's own name). */
  connectionName?: string
  /** How long to wait for the first connection; 2 s. Past it the client keeps trying in the background. */
  readyTimeoutMs?: number
}

/**
 * Opens the connection and waits until it is ready, or until `readyTimeoutMs` passes: a gateway starting while Redis
 * is down still starts (its limits fail open or closed, as configured) and picks Redis up when it comes.
 */
export const connectRedis = async (options: ConnectRedisOptions): Promise<Redis> => {
  const redis = new Redis(options.url, {
    connectionName: options.connectionName ?? 'gatehouse',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  })
  // Each failed reconnect emits `error`; the guard logs the outage once, so these need no line of their own.
  redis.on('error', () => {})
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, options.readyTimeoutMs ?? 2_000)
    redis.once('ready', done)
    function done(): void {
      clearTimeout(timer)
      redis.off('ready', done)
      resolve()
    }
  })
  return redis
}
