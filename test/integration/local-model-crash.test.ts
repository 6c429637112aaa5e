/**
 * A local model worker that dies in the middle of a call, through a real server: the call fails with a 5xx in the
 * client's dialect (a status before the first byte, an error event in a stream), the worker is replaced, and the
 * gateway serves on. The gateway is the Node one (`buildNodeDeps`, `createApp`, `serveNode`) with one change: its
 * local adapter starts its worker threads through a hook (`crashable-local-worker.ts`) that lets the test crash one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalAdapter } from '../../providers/local/local-adapter.ts'
import type { ProviderAdapter } from '../../providers/spec/provider-adapter.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import { createApp } from '../../src/app.ts'
import { createProviderRegistry } from '../../src/core/provider-registry.ts'
import { buildNodeDeps, type NodeDeps } from '../../src/runtime/node-deps.ts'
import { serveNode, type ServingNode } from '../../src/runtime/serve-node.ts'
import { crashableLocalWorkers, crashLocalWorker } from '../helpers/crashable-local-worker.ts'

const masterKey = 'gh-local-crash-key'
const model = `local/${tinyModelName}`
// Greedy, this prompt runs past 450 tokens without an end token.
const longPrompt = 'Tell me about the local model.'

let cwd: string
let built: NodeDeps
let adapter: ProviderAdapter
let serving: ServingNode
let openai: OpenAI
let anthropic: Anthropic
const threads: Worker[] = []

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'local-crash-'))
  await writeTinyModel(join(cwd, 'models', tinyModelName, '1'))
  writeFileSync(join(cwd, 'gatehouse.yaml'), 'providers:\n  local: { type: local }\n')
  built = await buildNodeDeps({
    env: {
      GATEHOUSE_CONFIG: 'gatehouse.yaml',
      LOG_LEVEL: 'error',
      GATEHOUSE_MASTER_KEY: masterKey,
    },
    cwd,
    stdout: () => {},
  })
  adapter = createLocalAdapter({
    id: 'local',
    directory: join(cwd, 'models'),
    models: null,
    workers: 1,
    intraOpNumThreads: 1,
    maxBatch: 8,
    dtype: 'fp32',
    spawn: crashableLocalWorkers(threads),
  })
  await adapter.start!()
  const registry = createProviderRegistry({
    providers: built.config.providers,
    factories: { local: () => adapter },
    runtimeName: 'Node',
  })
  if (!registry.ok) throw new Error(registry.errors.join('\n'))
  const app = createApp({ ...built.deps, providers: registry.registry })
  serving = await serveNode({
    fetch: app.fetch,
    host: '127.0.0.1',
    port: 0,
    logger: built.deps.logger,
  })
  const url = `http://127.0.0.1:${serving.port}`
  openai = new OpenAI({ apiKey: masterKey, baseURL: `${url}/v1`, maxRetries: 0 })
  anthropic = new Anthropic({ apiKey: masterKey, baseURL: url, maxRetries: 0 })
})

afterAll(async () => {
  await serving?.drain(0)
  await adapter?.close?.()
  for (const closable of built?.deps.closables ?? []) await closable.close()
  await built?.discard()
  rmSync(cwd, { recursive: true, force: true })
})

/** Crashes the current worker once it has generated a few tokens. */
const crashWhileGenerating = (): void => {
  const worker = threads.at(-1)!
  let texts = 0
  const onMessage = (message: { type: string }): void => {
    if (message.type !== 'text' || ++texts < 5) return
    worker.off('message', onMessage)
    crashLocalWorker(worker)
  }
  worker.on('message', onMessage)
}

const failureOf = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => null,
    (error: unknown) => error
  )

const waitForReplacement = async (count: number): Promise<void> => {
  await expect.poll(() => threads.length, { timeout: 10_000 }).toBe(count)
  // Served again once the replacement has loaded the model.
  await expect
    .poll(
      async () =>
        (
          await openai.chat.completions.create({
            model,
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 3,
          })
        ).choices.length,
      { timeout: 10_000 }
    )
    .toBe(1)
}

describe('a local model worker that dies mid-call', () => {
  it('fails an OpenAI call with a 502 before the first byte, and the next calls are served', async () => {
    crashWhileGenerating()
    const error = await failureOf(
      openai.chat.completions.create({
        model,
        messages: [{ role: 'user', content: longPrompt }],
        temperature: 0,
        max_tokens: 450,
      })
    )
    expect(error).toBeInstanceOf(OpenAI.APIError)
    const failure = error as InstanceType<typeof OpenAI.APIError>
    expect(failure.status).toBe(502)
    expect(failure.message).toMatch(/worker thread running the model exited/)
    expect(failure.headers?.get('x-should-retry')).toBe('false')
    // The rest of the gateway never stopped serving.
    expect((await openai.models.list()).data.map((entry) => entry.id)).toContain(model)
    await waitForReplacement(2)
  })

  it('ends an OpenAI stream with an error the SDK raises, after the text it had sent', async () => {
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: 'user', content: longPrompt }],
      temperature: 0,
      max_tokens: 450,
      stream: true,
    })
    crashWhileGenerating()
    let text = ''
    const error = await failureOf(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      })()
    )
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as Error).message).toMatch(/worker thread running the model exited/)
    expect(text.length).toBeGreaterThan(0)
    await waitForReplacement(3)
  })

  it("fails an Anthropic call in Anthropic's error shape, streamed or not", async () => {
    const request = {
      model,
      max_tokens: 450,
      temperature: 0,
      messages: [{ role: 'user' as const, content: longPrompt }],
    }
    crashWhileGenerating()
    const error = await failureOf(anthropic.messages.create(request))
    expect(error).toBeInstanceOf(Anthropic.APIError)
    const failure = error as InstanceType<typeof Anthropic.APIError>
    expect(failure.status).toBe(502)
    expect(failure.error).toMatchObject({ type: 'error', error: { type: 'api_error' } })
    await waitForReplacement(4)

    const stream = anthropic.messages.stream(request)
    crashWhileGenerating()
    const streamError = await failureOf(stream.finalMessage())
    expect(streamError).toBeInstanceOf(Anthropic.APIError)
    expect((streamError as Error).message).toMatch(/worker thread running the model exited/)
    await waitForReplacement(5)
  })
})
