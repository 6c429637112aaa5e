/**
 * The least a Hono app on @hono/node-server does for a chat call, to set against the gateway with
 * `MEASURE_FLOOR=1 node --import tsx bench/measure-cost.ts plain`: the route matched, the JSON body parsed and
 * serialized again, one undici `Pool` request with the upstream key (the gateway's transport settings, as the
 * reference proxy's), the whole answer read and sent back as a `Response`. No validation, routing, timeouts, retries,
 * accounting or logging: what is left between it and the gateway is the gateway's own work per request, and between
 * it and the reference proxy what Hono and its Node adapter cost (measured: nothing that the noise shows).
 *
 * Run as a child process on plain `node` (see `transpile-to-cache.ts`) with `UPSTREAM_ORIGIN`, `UPSTREAM_API_KEY`
 * and `PORT`; prints `{"url": ...}` once listening. Self-contained on purpose: no relative imports.
 */
import { realpathSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import { Pool } from 'undici'

export type HonoFloorProxy = { url: string; close(): Promise<void> }

export const startHonoFloorProxy = async (options: {
  upstreamOrigin: string
  upstreamApiKey: string
  port?: number
}): Promise<HonoFloorProxy> => {
  const pool = new Pool(options.upstreamOrigin, {
    connections: null,
    headersTimeout: 0,
    bodyTimeout: 0,
  })
  const app = new Hono()
  app.post('/v1/chat/completions', async (c) => {
    const body: unknown = await c.req.json()
    const upstream = await pool.request({
      path: '/v1/chat/completions',
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${options.upstreamApiKey}`,
      },
      body: JSON.stringify(body),
    })
    const bytes = new Uint8Array(await upstream.body.arrayBuffer())
    return new Response(bytes, {
      status: upstream.statusCode,
      headers: { 'content-type': String(upstream.headers['content-type'] ?? 'application/json') },
    })
  })
  let server: ServerType | undefined
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: options.port ?? 0, hostname: '127.0.0.1' }, (info) =>
      resolve((info as AddressInfo).port)
    )
  })
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
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
  const proxy = await startHonoFloorProxy({
    upstreamOrigin,
    upstreamApiKey: process.env.UPSTREAM_API_KEY ?? '',
    port: Number(process.env.PORT ?? 0),
  })
  process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)))
  process.stdout.write(`${JSON.stringify({ url: proxy.url })}\n`)
}
