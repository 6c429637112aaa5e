/**
 * Switching a local model's version while it serves, with the real tiny model in real worker threads: two versions
 * (other weights, so other answers) and a broken third. The new version's worker is held ready until the test has
 * streams running and queued on the old one, so the switch happens under them on any machine: they finish on the old
 * version, unchanged and without an error, new calls go to the new one, and the old workers are released after the
 * last stream. A version that fails to load is refused and the serving one goes on; a reset serves the config's pin
 * again. Every call is reported with the version that ran it.
 */
import { once } from 'node:events'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import {
  createLocalWorkerGate,
  type LocalWorkerGate,
} from '../../test/helpers/gated-local-worker.ts'
import type { ChatChunk, ChatRequest, ChatResult } from '../spec/chat-types.ts'
import type { InferenceReport } from '../spec/inference-report.ts'
import type { ProviderAdapter } from '../spec/provider-adapter.ts'
import { ProviderError } from '../spec/provider-error.ts'
import { createLocalAdapter } from './local-adapter.ts'

let root: string
let adapter: ProviderAdapter
let gate: LocalWorkerGate
const reports: InferenceReport[] = []
/** Version 1's short answer. */
let short1 = ''
const warnings: string[] = []

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'local-model-versions-'))
  const model = join(root, 'models', tinyModelName)
  await writeTinyModel(join(model, '1'))
  await writeTinyModel(join(model, '2'), { seed: 15 })
  cpSync(join(model, '1'), join(model, '3'), { recursive: true })
  writeFileSync(join(model, '3', 'onnx', 'model.onnx'), 'not an ONNX graph')
  gate = createLocalWorkerGate((data) => data.models.some((each) => each.folder.endsWith('2')))
  adapter = createLocalAdapter({
    id: 'local',
    directory: join(root, 'models'),
    models: null,
    versions: { [tinyModelName]: '1' },
    workers: 1,
    intraOpNumThreads: 1,
    // One generation at a time, so that one call runs and the others queue while the switch happens.
    maxBatch: 1,
    dtype: 'fp32',
    spawn: gate.spawn,
    report: (report) => reports.push(report),
    log: {
      info: () => {},
      warn: (_, message) => warnings.push(message),
      error: (_, message) => warnings.push(message),
    },
  })
  await adapter.start!()
})

afterAll(async () => {
  await adapter?.close?.()
  gate?.close()
  rmSync(root, { recursive: true, force: true })
})

const call = { signal: new AbortController().signal, requestId: 'test' }

/** Greedy: each version always answers it the same way. */
const ask = (maxTokens: number): ChatRequest => ({
  model: tinyModelName,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Tell me about the local model.' }] }],
  stream: false,
  temperature: 0,
  maxTokens,
})

const textOf = (result: ChatResult): string =>
  result.choices[0].content.map((part) => (part.type === 'text' ? part.text : '')).join('')

const chat = async (requestId: string, maxTokens = 24): Promise<string> =>
  textOf(await adapter.chat(ask(maxTokens), { ...call, requestId }))

const readText = async (reader: ReadableStreamDefaultReader<ChatChunk>): Promise<string> => {
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text
    if (value.type === 'text-delta') text += value.delta
  }
}

const versionsNow = () => adapter.modelVersions!.list()[0]

describe('model versions of the local provider', () => {
  it('switches versions under streams in flight, which finish on the old one, then releases it', async () => {
    expect(versionsNow()).toEqual({
      model: tinyModelName,
      active: '1',
      source: 'config',
      available: ['1', '2', '3'],
      draining: [],
    })
    short1 = await chat('before')
    const long1 = await chat('before-long', 150)
    const oldWorker = gate.started[0]
    const oldWorkerExited = once(oldWorker, 'exit')

    const activating = adapter.modelVersions!.activate(tinyModelName, '2')
    await gate.held()
    // Version 2 has loaded but is not ready yet: these go to version 1, one running and three queued behind it.
    const streams = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (id) =>
        (await adapter.streamChat(ask(150), { ...call, requestId: id })).getReader()
      )
    )
    const first = await streams[0].read()
    expect(first.value?.type).toBe('start')
    gate.open()
    expect(await activating).toEqual({
      model: tinyModelName,
      active: '2',
      source: 'activation',
      available: ['1', '2', '3'],
      draining: ['1'],
    })

    const short2 = await chat('after')
    expect(short2).not.toBe(short1)
    // A client that leaves lets go of the old version too.
    await streams[3].cancel()
    expect(await Promise.all(streams.slice(0, 3).map(readText))).toEqual([long1, long1, long1])
    await oldWorkerExited
    await vi.waitFor(() => expect(versionsNow().draining).toEqual([]))
    expect(await adapter.listModels!(call)).toEqual([
      expect.objectContaining({ id: tinyModelName, displayName: `${tinyModelName} (version 2)` }),
    ])

    const byRequest = new Map(reports.map((report) => [report.requestId, report]))
    for (const id of ['before', 'a', 'b', 'c'])
      expect(byRequest.get(id)).toMatchObject({ modelVersion: '1', outcome: 'completed' })
    expect(byRequest.get('c')).toMatchObject({
      provider: 'local',
      model: tinyModelName,
      kind: 'generation',
      outputTokens: 150,
      finishReason: 'length',
      errorStatus: null,
    })
    expect(byRequest.get('c')!.tokensPerSecond).toBeGreaterThan(0)
    // It waited in the queue behind a and b: its wait is in its duration, not in its inference time.
    expect(byRequest.get('c')!.durationMs).toBeGreaterThan(byRequest.get('c')!.inferenceMs! + 20)
    expect(byRequest.get('d')).toMatchObject({
      modelVersion: '1',
      outcome: 'cancelled',
      outputTokens: null,
    })
    expect(byRequest.get('after')).toMatchObject({ modelVersion: '2', outputTokens: 24 })
  })

  it('refuses a version that is not there or fails to load, naming why, and the serving one goes on', async () => {
    const serving = await chat('still-2')
    const refusal = await adapter.modelVersions!.activate(tinyModelName, '3').then(
      () => null,
      (error: unknown) => error
    )
    expect(refusal).toBeInstanceOf(ProviderError)
    expect(refusal).toMatchObject({ status: 400, param: 'version' })
    expect((refusal as Error).message).toMatch(
      /^Version 3 of `local\/gatehouse-tiny` failed to load: cannot load .+\. Version 2 goes on serving\.$/
    )
    const missing = await adapter.modelVersions!.activate(tinyModelName, '9').catch((e) => e)
    expect(missing).toMatchObject({
      status: 404,
      message: '`local/gatehouse-tiny` has no version 9: its versions are 1, 2, 3.',
    })
    expect(versionsNow()).toMatchObject({ active: '2', draining: [] })
    expect(await chat('still-2-after')).toBe(serving)
    expect(warnings).toContain(
      'local model version failed to load; the version serving goes on serving'
    )
  })

  it("goes back to the config's pin on a reset, and answers as that version did", async () => {
    const reset = await adapter.modelVersions!.activate(tinyModelName, null)
    expect(reset).toMatchObject({ active: '1', source: 'config', draining: ['2'] })
    expect(await chat('reset')).toBe(short1)
    expect(reports.find((report) => report.requestId === 'reset')).toMatchObject({
      modelVersion: '1',
    })
  })
})
