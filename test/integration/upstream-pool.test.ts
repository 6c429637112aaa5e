/**
 * Each provider instance gets its own upstream pool, bounded by its `pool.connections`: a burst through the gateway
 * opens at most that many sockets to the provider, and every request is still answered.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'

const masterKey = 'pool-master-key'

/** An OpenAI-compatible server that answers each chat completion after 100 ms and counts the sockets it was given. */
const startSlowUpstream = async () => {
  let sockets = 0
  const server: Server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      setTimeout(() => {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(
          JSON.stringify({
            id: 'chatcmpl-pool',
            object: 'chat.completion',
            created: 1_767_225_600,
            model: 'pool-model',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: 'ok', refusal: null },
                logprobs: null,
                finish_reason: 'stop',
              },
            ],
            usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
          })
        )
      }, 100)
    })
  })
  server.on('connection', () => (sockets += 1))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    sockets: () => sockets,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

let upstream: Awaited<ReturnType<typeof startSlowUpstream>>
let wide: Awaited<ReturnType<typeof startSlowUpstream>>
let gateway: NodeServer

beforeAll(async () => {
  ;[upstream, wide] = await Promise.all([startSlowUpstream(), startSlowUpstream()])
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-pool-'))
  writeFileSync(
    join(cwd, 'gatehouse.yaml'),
    [
      `auth: { masterKey: ${masterKey} }`,
      'pool: { connections: 8 }',
      'providers:',
      `  narrow: { type: openai-compatible, baseUrl: "${upstream.url}", discoverModels: false, pool: { connections: 2 } }`,
      `  wide: { type: openai-compatible, baseUrl: "${wide.url}", discoverModels: false }`,
    ].join('\n')
  )
  gateway = await startNodeServer({
    env: { GATEHOUSE_CONFIG: 'gatehouse.yaml', PORT: '0', LOG_LEVEL: 'error' },
    cwd,
    stdout: () => {},
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
  await wide?.close()
})

const burst = (model: string, count: number) =>
  Promise.all(
    Array.from({ length: count }, () =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((response) => response.status)
    )
  )

describe('upstream pools per provider', () => {
  it("holds a burst to the provider's own connection bound, and answers every request", async () => {
    expect(await burst('narrow/pool-model', 10)).toEqual(Array(10).fill(200))
    expect(upstream.sockets()).toBeLessThanOrEqual(2)
  })

  it('gives a provider without its own bound the global one', async () => {
    expect(await burst('wide/pool-model', 12)).toEqual(Array(12).fill(200))
    // More than the narrow provider's 2 (its bound is not shared), at most the global 8.
    expect(wide.sockets()).toBeGreaterThan(2)
    expect(wide.sockets()).toBeLessThanOrEqual(8)
  })
})
