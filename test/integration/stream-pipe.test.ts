/**
 * Streams piped from the upstream socket to the client's under load: many at once, clients that stop reading for a
 * while (backpressure all the way to the upstream), clients that hang up mid-stream, with and without the usage the
 * gateway adds and strips. Every stream a client read to its end arrived whole, every one it hung up on released
 * its upstream connection, and none stalled.
 */
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeServer } from '../../src/runtime/node.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'pipe-master-key'
const chunkCount = 40

/** The content of chunk `index`: every 10th is 48 KiB, so a client that stops reading fills its socket quickly. */
const contentOf = (index: number): string =>
  index % 10 === 9 ? `${index}:`.padEnd(48 * 1024, 'x') : `${index} `

const chunkEvent = (body: Record<string, unknown>, usage: boolean): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-pipe', object: 'chat.completion.chunk', created: 1_767_225_600, model: 'pipe-model', ...body, ...(usage ? { usage: null } : {}) })}\n\n`

/** An OpenAI-compatible server streaming `chunkCount` content chunks, one per millisecond or so. */
const startStreamingUpstream = async () => {
  let open = 0
  let served = 0
  const server: Server = createServer((request, response) => {
    let text = ''
    request.on('data', (piece: Buffer) => (text += piece.toString()))
    request.on('end', () => {
      const body = JSON.parse(text) as { stream_options?: { include_usage?: boolean } }
      const usage = body.stream_options?.include_usage === true
      open += 1
      served += 1
      let closed = false
      response.on('close', () => {
        closed = true
        open -= 1
      })
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write(
        chunkEvent(
          {
            choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
          },
          usage
        )
      )
      let index = 0
      const next = (): void => {
        if (closed) return
        if (index < chunkCount) {
          const content = contentOf(index)
          index += 1
          const more = response.write(
            chunkEvent({ choices: [{ index: 0, delta: { content }, finish_reason: null }] }, usage)
          )
          if (more) setTimeout(next, 1)
          else response.once('drain', next)
          return
        }
        response.write(
          chunkEvent({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }, usage)
        )
        if (usage)
          response.write(
            `data: ${JSON.stringify({ id: 'chatcmpl-pipe', object: 'chat.completion.chunk', created: 1_767_225_600, model: 'pipe-model', choices: [], usage: { prompt_tokens: 3, completion_tokens: chunkCount, total_tokens: chunkCount + 3 } })}\n\n`
          )
        response.end('data: [DONE]\n\n')
      }
      next()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    open: () => open,
    served: () => served,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

type ClientPlan = { pauseMs: number; hangUpAfterBytes: number | null; includeUsage: boolean }

/** One streamed chat completion, read as the plan says; resolves with the text read, or null when it hung up. */
const streamOnce = (port: number, plan: ClientPlan): Promise<string | null> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model: 'pipe-model',
      stream: true,
      messages: [{ role: 'user', content: 'go' }],
      ...(plan.includeUsage ? { stream_options: { include_usage: true } } : {}),
    })
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: {
          authorization: `Bearer ${masterKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`status ${response.statusCode}`))
          return
        }
        let text = ''
        let bytes = 0
        let paused = false
        response.setEncoding('utf8')
        response.on('data', (piece: string) => {
          text += piece
          bytes += piece.length
          if (plan.hangUpAfterBytes !== null && bytes >= plan.hangUpAfterBytes) {
            request.destroy()
            resolve(null)
            return
          }
          if (!paused && plan.pauseMs > 0 && bytes > 1_000) {
            paused = true
            response.pause()
            setTimeout(() => response.resume(), plan.pauseMs)
          }
        })
        response.on('end', () => resolve(text))
        response.on('error', reject)
      }
    )
    request.on('error', (error) => {
      if (plan.hangUpAfterBytes === null) reject(error)
    })
    request.end(body)
  })

/** What the client should have received: each chunk's content in order, then the end (and the usage when asked). */
const checkWhole = (text: string, includeUsage: boolean): void => {
  const events = text.split('\n\n').filter((event) => event.length > 0)
  expect(events.at(-1)).toBe('data: [DONE]')
  const chunks = events.slice(0, -1).map((event) => JSON.parse(event.slice('data: '.length)))
  const contents = chunks
    .flatMap((chunk) => chunk.choices)
    .map((choice: { delta: { content?: string } }) => choice.delta.content)
    .filter((content: string | undefined) => content !== undefined && content !== '')
  expect(contents).toEqual(Array.from({ length: chunkCount }, (_, index) => contentOf(index)))
  const usageChunks = chunks.filter((chunk) => chunk.usage)
  expect(usageChunks).toHaveLength(includeUsage ? 1 : 0)
  // Without include_usage asked, no event carries the key at all (the gateway asked for it and strips it).
  if (!includeUsage) expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true)
}

let upstream: Awaited<ReturnType<typeof startStreamingUpstream>>
let gateway: NodeServer

beforeAll(async () => {
  upstream = await startStreamingUpstream()
  gateway = await startTestGateway({
    config: [
      `auth: { masterKey: ${masterKey} }`,
      'providers:',
      `  openai: { type: openai-compatible, baseUrl: "${upstream.url}", discoverModels: false }`,
    ],
  })
})

afterAll(async () => {
  await gateway?.close()
  await upstream?.close()
})

describe('streams piped through the gateway', () => {
  it('200 at once, some clients pausing and some hanging up: whole streams, released connections, no stall', async () => {
    const plans: ClientPlan[] = Array.from({ length: 200 }, (_, index) => ({
      pauseMs: index % 4 === 1 ? 150 : 0,
      hangUpAfterBytes: index % 4 === 3 ? 30_000 + index * 97 : null,
      includeUsage: index % 2 === 0,
    }))
    const texts = await Promise.all(plans.map((plan) => streamOnce(gateway.port, plan)))
    texts.forEach((text, index) => {
      const plan = plans[index]
      if (plan.hangUpAfterBytes !== null) expect(text).toBeNull()
      else checkWhole(text!, plan.includeUsage)
    })
    expect(upstream.served()).toBe(200)
    // Every upstream response has ended or been closed: the hung-up streams released theirs.
    await expect.poll(() => upstream.open(), { timeout: 5_000 }).toBe(0)
  }, 60_000)
})
