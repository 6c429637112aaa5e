/**
 * The benchmark's yardstick: the least a Node proxy can do. `node:http` in, one undici `Pool` out (the gateway's
 * transport settings: unlimited sockets per origin, undici's default keep-alive, no undici timeouts), the client's
 * authorization swapped for the upstream key, and the upstream body piped back unparsed. The gateway is measured
 * against this, not against the mock, so the ratio shows what Gatehouse itself costs. `Readable#pipe`, not
 * `stream.pipeline`: on Node 20 the latter creates and aborts an `AbortController` (and a `DOMException`) per call,
 * about a tenth of this proxy's CPU in a profile.
 * https://undici.nodejs.org/#/docs/api/Pool
 *
 * Run as a child process on plain `node` (see `transpile-to-cache.ts`) with `UPSTREAM_ORIGIN`, `UPSTREAM_API_KEY`
 * and `PORT`; prints `{"url": ...}` once listening. Self-contained on purpose: no relative imports.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'

/** Hop-by-hop and recomputed headers, never copied between the two connections (RFC 9110 §7.6.1). */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'host',
  'authorization',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
])

const copyHeaders = (
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>
): OutgoingHttpHeaders => {
  const copied: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name)) copied[name] = value
  }
  return copied
}

export type ReferenceProxy = { url: string; server: Server; close(): Promise<void> }

export const startReferenceProxy = async (options: {
  upstreamOrigin: string
  upstreamApiKey: string
  port?: number
  host?: string
}): Promise<ReferenceProxy> => {
  const pool = new Pool(options.upstreamOrigin, {
    connections: null,
    headersTimeout: 0,
    bodyTimeout: 0,
  })
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const body = Buffer.concat(chunks)
      const headers = copyHeaders(incoming.headers) as Record<string, string>
      headers.authorization = `Bearer ${options.upstreamApiKey}`
      headers['content-length'] = String(body.byteLength)
      const abort = new AbortController()
      response.on('close', () => {
        if (!response.writableFinished) abort.abort()
      })
      pool
        .request({
          path: incoming.url ?? '/',
          method: (incoming.method ?? 'GET') as 'POST',
          headers,
          body,
          signal: abort.signal,
        })
        .then(
          (upstream) => {
            upstream.body.on('error', () => response.destroy())
            response.writeHead(upstream.statusCode, copyHeaders(upstream.headers))
            upstream.body.pipe(response)
          },
          () => {
            if (response.headersSent) response.destroy()
            else
              response
                .writeHead(502, { 'content-type': 'application/json' })
                .end('{"error":"upstream unreachable"}')
          }
        )
    })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  )
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await pool.close()
    },
  }
}

/** Run as a script: `import.meta.url` is the real path, so a script reached through a symlink compares as one too. */
const isMain = (): boolean => {
  try {
    return (
      process.argv[1] !== undefined &&
      realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
    )
  } catch {
    return false
  }
}

if (isMain()) {
  const upstreamOrigin = process.env.UPSTREAM_ORIGIN
  if (upstreamOrigin === undefined) throw new Error('UPSTREAM_ORIGIN is required')
  const proxy = await startReferenceProxy({
    upstreamOrigin,
    upstreamApiKey: process.env.UPSTREAM_API_KEY ?? '',
    port: Number(process.env.PORT ?? 0),
  })
  process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)))
  process.stdout.write(`${JSON.stringify({ url: proxy.url })}\n`)
}
