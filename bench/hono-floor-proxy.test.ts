import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startHonoFloorProxy, type HonoFloorProxy } from './hono-floor-proxy.ts'

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

describe('the Hono floor proxy', () => {
  it('forwards a chat call with the upstream key and answers what the upstream answered', async () => {
    const seen: { authorization?: string; body: unknown }[] = []
    const upstream: Server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        seen.push({
          authorization: request.headers.authorization,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        })
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"object":"chat.completion","choices":[]}')
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())))
    const { port } = upstream.address() as AddressInfo
    const proxy: HonoFloorProxy = await startHonoFloorProxy({
      upstreamOrigin: `http://127.0.0.1:${port}`,
      upstreamApiKey: 'sk-upstream',
    })
    closers.unshift(() => proxy.close())

    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }
    const response = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer client-key', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.json()).toEqual({ object: 'chat.completion', choices: [] })
    expect(seen).toEqual([{ authorization: 'Bearer sk-upstream', body }])
  })
})
