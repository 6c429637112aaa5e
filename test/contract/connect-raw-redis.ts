/**
 * A minimal Redis client over `node:net` speaking RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * commands in, replies out, in order. The contract harness needs only this much (a reachability `PING`, cleaning a key
 * prefix, a Redis-backed store in its own test) and the repository has no Redis client yet; the Redis stores of the
 * tenants issue bring `ioredis`, after which this stays for the harness alone.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'

/** A decoded reply: simple and bulk strings as text, integers as numbers, nil as `null`, arrays nested. */
export type RespValue = string | number | null | RespValue[]

export type RawRedis = {
  /** Sends one command (`command('SET', 'key', 'value')`); rejects with the server's message on an error reply. */
  command(...args: (string | number)[]): Promise<RespValue>
  close(): Promise<void>
}

type Parsed = { value: RespValue | Error; end: number }

/** One reply starting at `start`, or `undefined` while the buffer holds only part of it. */
const parseReply = (buffer: Buffer, start: number): Parsed | undefined => {
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd === -1) return undefined
  const line = buffer.toString('utf8', start + 1, lineEnd)
  const next = lineEnd + 2
  switch (buffer[start]) {
    case 0x2b: // +
      return { value: line, end: next }
    case 0x2d: // -
      return { value: new Error(line), end: next }
    case 0x3a: // :
      return { value: Number(line), end: next }
    case 0x24: {
      // $
      const length = Number(line)
      if (length < 0) return { value: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case 0x2a: {
      // *
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: RespValue[] = []
      let at = next
      for (let index = 0; index < count; index += 1) {
        const item = parseReply(buffer, at)
        if (item === undefined) return undefined
        if (item.value instanceof Error) return { value: item.value, end: item.end }
        items.push(item.value)
        at = item.end
      }
      return { value: items, end: at }
    }
    default:
      return {
        value: new Error(
          `not a RESP reply: ${JSON.stringify(buffer.toString('utf8', start, lineEnd))}`
        ),
        end: buffer.length,
      }
  }
}

const encodeCommand = (args: (string | number)[]): string =>
  `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`).join('')}`

const openSocket = (url: URL, timeoutMs: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no connection within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })

/** Connects to `url` (`redis://host:port`); rejects when the server cannot be reached within `timeoutMs`. */
export const connectRawRedis = async (options: {
  url: string
  timeoutMs?: number
}): Promise<RawRedis> => {
  const socket = await openSocket(new URL(options.url), options.timeoutMs ?? 2_000)
  const pending: { resolve(value: RespValue): void; reject(error: Error): void }[] = []
  let buffer: Buffer = Buffer.alloc(0)
  let failure: Error | undefined

  const failAll = (error: Error): void => {
    failure ??= error
    for (const waiter of pending.splice(0)) waiter.reject(failure)
  }
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    let offset = 0
    for (;;) {
      const reply = offset < buffer.length ? parseReply(buffer, offset) : undefined
      if (reply === undefined) break
      offset = reply.end
      const waiter = pending.shift()
      if (reply.value instanceof Error) waiter?.reject(reply.value)
      else waiter?.resolve(reply.value)
    }
    buffer = buffer.subarray(offset)
  })
  socket.on('error', failAll)
  socket.on('close', () => failAll(new Error('the Redis connection closed')))

  return {
    command: (...args) =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure)
        pending.push({ resolve, reject })
        socket.write(encodeCommand(args))
      }),
    close: () =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve()
        socket.once('close', () => resolve())
        socket.end()
      }),
  }
}
