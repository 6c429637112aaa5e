/**
 * A Lua script run by its SHA-1 (`EVALSHA`), sent whole only when Redis does not have it yet (first use, or after a
 * restart or `SCRIPT FLUSH`): one round trip, and the script body crosses the network once per server.
 *
 * The scripts of one event-loop turn leave together: the first corks the connection's socket until the turn ends
 * (`setImmediate`), so the commands of the requests a busy gateway handles in one turn go out in one `writev`
 * instead of a system call each (ioredis writes every command on its own), and Redis reads them in one go. Their
 * order on the connection, which the guard's cancels rely on, is unchanged.
 */
import { createHash } from 'node:crypto'
import { ReplyError, type Redis } from 'ioredis'

const corked = new WeakSet<object>()

/** Holds `redis`'s writes until the end of this event-loop turn (once per turn and socket). */
const corkForThisTurn = (redis: Redis): void => {
  const stream = redis.stream
  if (redis.status !== 'ready' || corked.has(stream)) return
  corked.add(stream)
  stream.cork()
  setImmediate(() => {
    corked.delete(stream)
    stream.uncork()
  })
}

export class RedisScript {
  readonly sha: string

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number | Buffer)[]
  ): Promise<unknown> {
    corkForThisTurn(redis)
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof ReplyError && (error as Error).message.startsWith('NOSCRIPT')))
        throw error
      return redis.eval(this.source, keys.length, ...keys, ...args)
    }
  }
}
