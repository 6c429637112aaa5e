/**
 * A Lua script run by its SHA-1 (`EVALSHA`), sent whole only when Redis does not have it yet (first use, or after a
 * restart or `SCRIPT FLUSH`): one round trip, and the script body crosses the network once per server.
 */
import { createHash } from 'node:crypto'
import { ReplyError, type Redis } from 'ioredis'

export class RedisScript {
  readonly sha: string

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[]
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof ReplyError && (error as Error).message.startsWith('NOSCRIPT')))
        throw error
      return redis.eval(this.source, keys.length, ...keys, ...args)
    }
  }
}
