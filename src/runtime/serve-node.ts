/**
 * The HTTP server's lifecycle on Node: listen with keep-alive tuned, count the requests in flight for the shutdown
 * drain, and read away what a client still sends after it has its answer.
 *
 * Unread bodies: the gateway can answer before it read the request body (a 413 decided from `content-length`, a 401,
 * a chunked body cut at the limit). Closing the socket then, with the client still sending, makes the kernel answer
 * with a reset: a client that writes its whole body before it reads (most blocking HTTP libraries) fails with EPIPE
 * and never sees the status, and Node's own client raises EPIPE after it. So the rest of the body is read and
 * discarded, the way nginx's lingering close does, up to `discardBody.maxBytes` and `discardBody.maxMs`; past either
 * bound the socket is destroyed. A body read to its end leaves the keep-alive connection usable. @hono/node-server's
 * own clean-up (`autoCleanupIncoming`) is off: it gives up after 500 ms, too soon for an upload on a slow link.
 * https://www.rfc-editor.org/rfc/rfc9112#section-9.6, https://nginx.org/en/docs/http/ngx_http_core_module.html#lingering_close
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Server as NetServer } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import type { Logger } from '../core/logger.ts'
import { StartupError } from './startup-error.ts'
import { waitAtMost } from './wait-at-most.ts'
import { abortClientSignals } from './node-client-signal.ts'
import { gatewayShuttingDown } from '../core/deadline.ts'
import { GatewayError } from '../core/errors.ts'

/**
 * Longer than the 60 s idle timeout of common load balancers (AWS ALB, GCP), so the balancer, not the gateway, closes
 * an idle connection: otherwise a request can race our close and fail with a reset.
 */
const keepAliveTimeoutMs = 65_000

export type DiscardBodyLimits = {
  /** Most bytes read away after the response; four times the default body limit. */
  maxBytes: number
  /** Longest time spent reading them (nginx's `lingering_time`). */
  maxMs: number
}

export const defaultDiscardBodyLimits: DiscardBodyLimits = {
  maxBytes: 128 * 1024 * 1024,
  maxMs: 30_000,
}

export type ServeNodeOptions = {
  /** The app's `fetch`; `env` is @hono/node-server's `{ incoming, outgoing }`. */
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>
  host: string
  port: number
  logger: Logger
  /** Bounds on reading away a body the response left unread (module doc); `defaultDiscardBodyLimits` otherwise. */
  discardBody?: DiscardBodyLimits
  /** How long a client may take to send a whole request (`server.requestTimeoutMs`); default 60 s. */
  requestTimeoutMs?: number
}

/**
 * Node's bounds on receiving a request, from `server.requestTimeoutMs`. Node's own default lets a client take five
 * minutes to send one, so a client that sends its body a byte at a time (slowloris) holds a connection and a
 * handler that long; nginx allows 60 s between two reads of the body. Node answers a request still incomplete at
 * its deadline with a 408 and closes the connection (a request already answered, a 413 being read away, is just
 * closed), and checks every quarter of the timeout (at most 30 s apart, its default), so the cut comes between
 * one and one and a quarter times the timeout. It bounds the request only: a response, streamed or not, takes as
 * long as it takes. The headers get at most Node's 60 s within it.
 */
export const requestTimeouts = (requestTimeoutMs: number) => ({
  requestTimeout: requestTimeoutMs,
  headersTimeout: Math.min(60_000, requestTimeoutMs),
  connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeoutMs / 4))),
})

export type ServingNode = {
  server: Server
  port: number
  /** Stops accepting connections and resolves once in-flight requests are done or `drainTimeoutMs` has passed. */
  drain(drainTimeoutMs: number): Promise<{ unfinished: number }>
}

const noop = (): void => {}

/** What a handler still reading the body of a request past `server.requestTimeoutMs` fails with (a 408 recorded). */
export const requestTimedOut = (requestTimeoutMs: number): GatewayError =>
  new GatewayError(
    'invalid_request',
    `The request was not received whole within ${requestTimeoutMs} ms (server.requestTimeoutMs).`,
    { status: 408 }
  )

/**
 * Node's answers to a client error, as its own `clientError` handling writes them (which a listener replaces):
 * https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js (`socketOnError`).
 */
const clientErrorAnswers: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
}
const badRequestAnswer = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'

/**
 * Node's handling of a client error, and one thing more: a request cut by its timeout fails its handler's body read
 * with `requestTimedOut`, so that it is recorded as the gateway's 408, not as a client that left (499).
 */
const onClientError = (
  error: NodeJS.ErrnoException,
  socket: Socket,
  requestTimeoutMs: number
): void => {
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (socket.writable && (response == null || !response.headersSent))
    socket.write(clientErrorAnswers[error.code ?? ''] ?? badRequestAnswer)
  if (
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' &&
    response?.req !== undefined &&
    !response.req.complete
  )
    response.req.destroy(requestTimedOut(requestTimeoutMs))
  socket.destroy(error)
}

/** How long the drain waits, once its time is up, for the calls it ended to send their error (`drain`). */
const shutdownNoticeMs = 500

/** How long the drain waits, after closing the connections left, for their responses to close and handlers to return. */
const closedResponsesWaitMs = 1_000

/** How often the bodies being read away are checked against their limits. */
const discardCheckMs = 10

/**
 * Reads the rest of a request's body into nothing, or destroys its socket past the limits. Listeners left by whoever
 * read part of the body (a Web stream over it) are dropped first, as Node's own `_dump` does: nobody reads it any
 * more. Bytes are counted from the socket's `bytesRead`: a body Node dumps itself never reaches the request's `data`
 * listeners, and a `data` listener on the socket would take it away from the HTTP parser mid-request. One timer per
 * server checks every such socket, so a thousand clients stalling after a 413 cost one timer, not a thousand.
 *
 * A response that closes the connection (the client sent `connection: close`, or the server is draining): Node has
 * already ended the socket and destroys it as soon as its side is flushed (`Socket#destroySoon`), which would reset a
 * client still sending. That destroy now waits for the body's end or the limits; the client has its answer and our FIN.
 */
const createBodyDiscarder = (limits: DiscardBodyLimits): ((request: IncomingMessage) => void) => {
  type Discarding = { socket: Socket; maxBytesRead: number; deadline: number; stop: () => void }
  const discarding = new Set<Discarding>()
  let timer: ReturnType<typeof setInterval> | undefined
  const check = (): void => {
    const now = Date.now()
    for (const entry of discarding) {
      if (entry.socket.bytesRead <= entry.maxBytesRead && now < entry.deadline) continue
      entry.stop()
      entry.socket.destroy()
    }
    if (discarding.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }

  return (request) => {
    const socket = request.socket
    if (request.complete || socket.destroyed) return
    const closing = socket.writableEnded
    if (closing) socket.off('finish', socket.destroy)
    const entry: Discarding = {
      socket,
      maxBytesRead: socket.bytesRead + limits.maxBytes,
      deadline: Date.now() + limits.maxMs,
      stop: () => {
        if (!discarding.delete(entry)) return
        request.off('end', entry.stop)
        request.off('close', entry.stop)
        if (closing) socket.destroySoon()
      },
    }
    discarding.add(entry)
    if (timer === undefined) {
      timer = setInterval(check, discardCheckMs)
      timer.unref()
    }
    request.removeAllListeners('data')
    request.once('end', entry.stop)
    request.once('close', entry.stop)
    request.resume()
  }
}

/** Listens with keep-alive tuned and tracks in-flight requests for the drain. Rejects with `StartupError` on EADDRINUSE. */
export const serveNode = async (options: ServeNodeOptions): Promise<ServingNode> => {
  const discardUnreadBody = createBodyDiscarder(options.discardBody ?? defaultDiscardBodyLimits)
  // Handlers that have not returned yet: one cut off by the drain (still waiting for its upstream) records its usage
  // when it sees the abort, after its response has closed.
  let handling = 0
  let onHandled = noop
  const handled = (): void => {
    handling -= 1
    if (handling === 0) onHandled()
  }
  const fetch = (request: Request, env?: unknown): Response | Promise<Response> => {
    const result = options.fetch(request, env)
    if (result instanceof Promise) {
      handling += 1
      result.then(handled, handled)
    }
    return result
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000
  const server = createAdaptorServer({
    fetch,
    hostname: options.host,
    createServer,
    serverOptions: { keepAliveTimeout: keepAliveTimeoutMs, ...requestTimeouts(requestTimeoutMs) },
    autoCleanupIncoming: false,
  }) as Server
  let draining = false
  let inFlight = 0
  let onIdle = noop
  /**
   * The open connections, for the drain to end the calls its time did not let finish (`abortClientSignals`): in an
   * array, each socket holding its place in it, not in a `Set`. Hashing every response into a set (c41380d) took
   * plain calls at full rate from 0.71-0.79 to 0.57-0.61 of the reference proxy; nothing here hashes a socket either.
   */
  const sockets: Socket[] = []
  const slotKey = Symbol('gatehouse.socketSlot')
  server.on('connection', (socket: Socket & { [slotKey]?: number }) => {
    socket[slotKey] = sockets.length
    sockets.push(socket)
    socket.once('close', () => {
      const slot = socket[slotKey]!
      const last = sockets.pop()!
      if (last !== socket) {
        sockets[slot] = last
        ;(last as Socket & { [slotKey]?: number })[slotKey] = slot
      }
    })
  })

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
    onClientError(error, socket, requestTimeoutMs)
  )

  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    inFlight += 1
    if (draining && !response.headersSent) response.setHeader('connection', 'close')
    response.once('close', () => {
      inFlight -= 1
      if (!request.complete) discardUnreadBody(request)
      if (draining && inFlight === 0) onIdle()
    })
  })

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        error.code === 'EADDRINUSE' ||
          error.code === 'EACCES' ||
          error.code === 'EADDRNOTAVAIL' ||
          // A host name that does not resolve.
          error.code === 'ENOTFOUND' ||
          error.code === 'EAI_AGAIN'
          ? new StartupError([
              `server: cannot listen on ${options.host}:${options.port} (${error.code}: ${error.message})`,
            ])
          : error
      )
    }
    server.once('error', onError)
    server.listen(options.port, options.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  server.on('error', (error) => options.logger.error({ err: error }, 'server error'))

  return {
    server,
    port: (server.address() as AddressInfo).port,
    async drain(drainTimeoutMs) {
      draining = true
      // net.Server#close stops accepting without http.Server#close's closeIdleConnections(): see node.ts's module doc.
      NetServer.prototype.close.call(server, noop)
      const idle =
        inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve))
      await waitAtMost(idle, drainTimeoutMs)
      const unfinished = inFlight
      if (unfinished > 0) {
        // Time is up: the calls still running end with the gateway's reason, not the client's (a stream with its
        // dialect's error event, a call still waiting for its upstream with a 503), and get a moment to say so
        // before the connections close.
        for (const socket of sockets) abortClientSignals(socket, gatewayShuttingDown())
        await waitAtMost(idle, shutdownNoticeMs)
      }
      server.closeAllConnections()
      // A response cut short ends on its `close`, a tick later, and that end records its usage; a handler still
      // waiting for its upstream sees the abort then, and records it before it returns. Shutdown closes the usage
      // sink only after both.
      if (unfinished > 0) {
        const allHandled =
          handling === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onHandled = resolve))
        await waitAtMost(Promise.all([idle, allHandled]), closedResponsesWaitMs)
      }
      return { unfinished }
    },
  }
}
