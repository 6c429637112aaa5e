/**
 * The worker pool with the real tiny models: a cancel stops the worker between two steps, a worker that dies is
 * replaced (its calls fail with a 502, later ones are served), a replacement that cannot load makes calls fail with a
 * 503 until one can, a broken graph (or one whose outputs are not its kind's) stops the start naming its folder,
 * embeddings go to the worker that is not generating, and close fails what is pending.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeEmbeddingModel } from '../../scripts/tiny-model/write-embedding-model.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import {
  crashableLocalWorkers,
  crashLocalWorker,
} from '../../test/helpers/crashable-local-worker.ts'
import type { GenerateJob, LocalWorkerData } from './local-worker-messages.ts'
import {
  createLocalWorkerPool,
  type GenerationEnd,
  type LocalWorkerPool,
} from './local-worker-pool.ts'

let root: string
let folder: string
const pools: LocalWorkerPool[] = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'local-pool-'))
  folder = join(root, tinyModelName)
  await writeTinyModel(folder)
})

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

// One text message per decoded piece unless a test asks otherwise: the cancel tests count pieces as tokens.
const data = (modelFolder = folder, maxBatch = 8, streamIntervalMs = 0): LocalWorkerData => ({
  models: [{ name: tinyModelName, folder: modelFolder, dtype: 'fp32', kind: 'chat' }],
  intraOpNumThreads: 1,
  maxBatch,
  streamIntervalMs,
})

/** A pool whose worker threads the test can crash. */
const startPool = async (
  options: {
    workers?: number
    modelFolder?: string
    respawnDelayMs?: number
    maxBatch?: number
    streamIntervalMs?: number
  } = {}
): Promise<{ pool: LocalWorkerPool; threads: Worker[]; lines: LogLine[] }> => {
  const threads: Worker[] = []
  const lines: LogLine[] = []
  const record =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, message: string): void =>
      void lines.push({ level, message, fields })
  const pool = createLocalWorkerPool({
    workers: options.workers ?? 1,
    workerData: data(options.modelFolder, options.maxBatch, options.streamIntervalMs),
    respawnDelayMs: options.respawnDelayMs,
    log: { info: record('info'), warn: record('warn'), error: record('error') },
    spawn: crashableLocalWorkers(threads),
  })
  pools.push(pool)
  await pool.start()
  return { pool, threads, lines }
}

type LogLine = {
  level: 'info' | 'warn' | 'error'
  message: string
  fields: Record<string, unknown>
}

const signal = (): AbortSignal => new AbortController().signal

const jobFor = async (
  pool: LocalWorkerPool,
  text: string,
  maxNewTokens: number
): Promise<GenerateJob> => ({
  model: tinyModelName,
  inputIds: await pool.prepare(
    { model: tinyModelName, messages: [{ role: 'user', content: text }] },
    signal()
  ),
  maxNewTokens,
  sampling: { temperature: 0, topP: 1, topK: 0, seed: 1 },
  stop: [],
})

type Outcome = {
  texts: string[]
  end?: GenerationEnd
  error?: Error
  cancelled?: { outputTokens: number; cancelledAt: number }
}

const run = (
  pool: LocalWorkerPool,
  job: GenerateJob,
  options: { onText?: (count: number) => void; abort?: AbortSignal } = {}
): { outcome: Outcome; done: Promise<Outcome>; cancel(): void } => {
  const outcome: Outcome = { texts: [] }
  let finish!: () => void
  const done = new Promise<Outcome>((resolve) => {
    finish = () => resolve(outcome)
  })
  const handle = pool.generate(job, {
    signal: options.abort ?? signal(),
    handlers: {
      onStart: () => {},
      onText: (text) => {
        outcome.texts.push(text)
        options.onText?.(outcome.texts.length)
      },
      onEnd: (end) => {
        outcome.end = end
        finish()
      },
      onError: (error) => {
        outcome.error = error
        finish()
      },
      onCancelled: (tokens) => {
        outcome.cancelled = tokens
        finish()
      },
    },
  })
  return { outcome, done, cancel: () => handle.cancel() }
}

// Greedy, this prompt runs past 450 tokens without an end token.
const longPrompt = 'Tell me about the local model.'

describe('the local worker pool', () => {
  it('stops a cancelled generation within a step of the cancel reaching the worker', async () => {
    const { pool } = await startPool()
    const job = await jobFor(pool, longPrompt, 450)
    let seenAtCancel = 0
    const running = run(pool, job, {
      onText: (count) => {
        if (count === 30) {
          seenAtCancel = count
          running.cancel()
        }
      },
    })
    const outcome = await running.done
    expect(outcome.end).toBeUndefined()
    expect(outcome.error).toBeUndefined()
    const { outputTokens, cancelledAt } = outcome.cancelled!
    // Each of these tokens was one ASCII character, so one text piece: those generated after the 30th piece went out
    // were in flight when the cancel was sent; after the worker read it, at most the step under way finished.
    console.info(
      `cancel: ${cancelledAt - seenAtCancel} tokens in flight when it was sent, ` +
        `${outputTokens - cancelledAt} generated after the worker read it`
    )
    expect(cancelledAt).toBeGreaterThanOrEqual(seenAtCancel)
    expect(outputTokens - cancelledAt).toBeLessThanOrEqual(1)
    expect(pool.stats()).toEqual({ workers: 1, busy: 0, queued: 0 })
  })

  it('fails the calls of a worker that dies with a 502, replaces it, and serves the next ones', async () => {
    const { pool, threads, lines } = await startPool({ workers: 2 })
    const [first, second] = await Promise.all([
      jobFor(pool, longPrompt, 450),
      jobFor(pool, longPrompt, 20),
    ])
    const crashing = run(pool, first, {
      onText: (count) => {
        if (count === 10) crashLocalWorker(threads[0])
      },
    })
    const other = run(pool, first)
    const crashed = await crashing.done
    expect(crashed.error).toMatchObject({ status: 502, kind: 'connection', retryable: false })
    expect(crashed.error!.message).toMatch(/worker thread running the model exited/)
    // The other worker went on with its own generation.
    expect((await other.done).end).toMatchObject({ reason: 'length', outputTokens: 450 })
    await expect.poll(() => pool.stats().workers, { timeout: 10_000 }).toBe(2)
    expect(threads).toHaveLength(3)
    expect(lines.map(({ level, message }) => `${level}: ${message}`)).toEqual([
      'warn: local model worker exited; starting another',
      'info: local model worker ready',
    ])
    expect(lines[0].fields).toMatchObject({
      failedCalls: 1,
      detail: 'the worker thread exited (code 1): a simulated crash of a local model worker',
    })
    const after = await Promise.all([run(pool, second).done, run(pool, second).done])
    for (const outcome of after) expect(outcome.end).toMatchObject({ outputTokens: 20 })
  })

  it('fails calls with a 503 while no worker can load the model, and serves again once one can', async () => {
    const copy = join(root, 'copy')
    await writeTinyModel(copy)
    const { pool, threads, lines } = await startPool({ modelFolder: copy, respawnDelayMs: 100 })
    const job = await jobFor(pool, longPrompt, 5)
    await rename(copy, `${copy}.away`)
    crashLocalWorker(threads[0])
    await expect
      .poll(() => run(pool, job).done.then((outcome) => outcome.error?.message), {
        timeout: 10_000,
      })
      .toMatch(/workers cannot load its models/)
    const refused = await run(pool, job).done
    // The client is told the workers cannot load; the folder and onnxruntime's words go to the log only.
    expect(refused.error).toMatchObject({ status: 503, detail: expect.stringContaining(copy) })
    expect(refused.error!.message).not.toContain(copy)
    expect(lines.find(({ level }) => level === 'error')).toMatchObject({
      message: 'local model worker cannot load the models',
      fields: { detail: expect.stringContaining(`cannot load ${copy}`) },
    })
    await rename(`${copy}.away`, copy)
    await expect
      .poll(() => run(pool, job).done.then((outcome) => outcome.end?.outputTokens), {
        timeout: 10_000,
      })
      .toBe(5)
  })

  it('refuses to start on a graph onnxruntime cannot load, naming the folder', async () => {
    const broken = join(root, 'broken')
    await writeTinyModel(broken)
    await writeFile(join(broken, 'onnx', 'model.onnx'), 'not a graph')
    const pool = createLocalWorkerPool({ workers: 2, workerData: data(broken) })
    await expect(pool.start()).rejects.toThrow(`cannot load ${broken} (fp32)`)
    expect(pool.stats()).toEqual({ workers: 0, busy: 0, queued: 0 })
  })

  it("refuses to start on a graph whose outputs are not its kind's, naming the folder", async () => {
    // The embedding export (last_hidden_state only), loaded as what its config would make a chat model.
    const mislabelled = join(root, 'mislabelled')
    await writeEmbeddingModel(mislabelled)
    const pool = createLocalWorkerPool({
      workers: 1,
      workerData: {
        models: [{ name: 'mislabelled', folder: mislabelled, dtype: 'fp32', kind: 'chat' }],
        intraOpNumThreads: 1,
        maxBatch: 8,
        streamIntervalMs: 0,
      },
    })
    await expect(pool.start()).rejects.toThrow(
      `cannot load ${mislabelled} (fp32): config.json makes it a chat model (a causal LM), but its graph has no logits output (outputs: last_hidden_state)`
    )
  })

  it('embeds on the least busy worker while another generates, and fails the request with a 502 when its worker dies', async () => {
    const embedFolder = join(root, 'embed')
    await writeEmbeddingModel(embedFolder)
    const threads: Worker[] = []
    const pool = createLocalWorkerPool({
      workers: 2,
      workerData: {
        models: [
          { name: tinyModelName, folder, dtype: 'fp32', kind: 'chat' },
          { name: 'embed', folder: embedFolder, dtype: 'fp32', kind: 'embedding', pooling: 'mean' },
        ],
        intraOpNumThreads: 1,
        maxBatch: 8,
        streamIntervalMs: 0,
      },
      spawn: crashableLocalWorkers(threads),
    })
    pools.push(pool)
    await pool.start()
    const job = await jobFor(pool, longPrompt, 200)
    const generating = run(pool, job)
    const embedJob = { model: 'embed', inputs: ['hello', 'world'], maxInputTokens: 512 }
    const embedded = await pool.embed(embedJob, signal())
    if (embedded.kind !== 'embedded') throw new Error(`refused: ${JSON.stringify(embedded)}`)
    expect(embedded.vectors).toHaveLength(2 * 128)
    expect(embedded.tokens).toHaveLength(2)
    expect(Math.min(...embedded.tokens)).toBeGreaterThan(0)
    expect(await pool.embed({ ...embedJob, inputs: ['hi', ''] }, signal())).toEqual({
      kind: 'refused',
      index: 1,
      tokens: 0,
    })
    // The generation kept one worker busy: the embeddings went to the other, which now dies during a request.
    const long = { ...embedJob, inputs: Array.from({ length: 200 }, () => 'ab '.repeat(150)) }
    const dying = pool.embed(long, signal())
    crashLocalWorker(threads[1])
    await expect(dying).rejects.toMatchObject({ status: 502, kind: 'connection' })
    expect((await generating.done).end).toMatchObject({ outputTokens: 200 })
  })

  it('fails what is running and queued with a 503 when it closes', async () => {
    // One generation at a time (Transformers.js's own `generate`), so the second one queues.
    const { pool } = await startPool({ maxBatch: 1 })
    const job = await jobFor(pool, longPrompt, 450)
    const running = run(pool, job)
    const queued = run(pool, job)
    expect(pool.stats()).toMatchObject({ busy: 1, queued: 1 })
    await pool.close()
    for (const outcome of [await running.done, await queued.done])
      expect(outcome.error).toMatchObject({ status: 503 })
    const late = await run(pool, job).done
    expect(late.error).toMatchObject({ status: 503 })
    await expect(
      pool.prepare({ model: tinyModelName, messages: [] }, signal())
    ).rejects.toMatchObject({ status: 503 })
  })

  it('takes a queued generation out of the queue when its client leaves', async () => {
    const { pool } = await startPool({ maxBatch: 1 })
    const job = await jobFor(pool, longPrompt, 200)
    const running = run(pool, job)
    const controller = new AbortController()
    const queued = run(pool, job, { abort: controller.signal })
    expect(pool.stats().queued).toBe(1)
    controller.abort()
    expect((await queued.done).error).toMatchObject({ kind: 'aborted', status: 499 })
    expect(pool.stats().queued).toBe(0)
    expect((await running.done).end).toMatchObject({ outputTokens: 200 })
  })
})

describe('generations sharing their forward passes', () => {
  it('gives each generation of a batch what it gets alone, as rows join and leave between steps', async () => {
    const [batched, alone] = await Promise.all([
      startPool({ maxBatch: 8 }),
      startPool({ maxBatch: 1 }),
    ])
    const prompts = [
      longPrompt,
      'Write a poem about the sea.',
      'Hi',
      'What is the capital of France? Answer in one word, then explain at length why.',
      'Count from one to twenty.',
      'Say something.',
      'Describe a sunset over the mountains in great detail, with colours and sounds.',
      'Why?',
      'List three fruits.',
      'Tell me a story about a robot who learns to paint, in the style of a fairy tale.',
      'ok',
      'Translate "good morning" into five languages.',
    ]
    // Lengths differ, so rows leave at different steps and the queued ones join a running batch; half sample.
    const jobs = await Promise.all(
      prompts.map(async (prompt, index) => ({
        ...(await jobFor(batched.pool, prompt, 20 + ((index * 37) % 180))),
        sampling: {
          temperature: index % 2 === 0 ? 0 : 0.9,
          topP: index % 4 === 1 ? 0.9 : 1,
          topK: index % 4 === 3 ? 20 : 0,
          seed: 1000 + index,
        },
        stop: index === 4 ? ['e'] : [],
      }))
    )
    let mostBusy = 0
    const together = await Promise.all(
      jobs.map(
        (job) =>
          run(batched.pool, job, {
            onText: () => (mostBusy = Math.max(mostBusy, batched.pool.stats().busy)),
          }).done
      )
    )
    expect(mostBusy).toBe(8)
    for (const [index, job] of jobs.entries()) {
      const reference = await run(alone.pool, job).done
      expect(reference.end).toBeDefined()
      expect({ index, text: together[index].texts.join(''), end: together[index].end }).toEqual({
        index,
        text: reference.texts.join(''),
        end: reference.end,
      })
    }
    expect(together[4].end).toMatchObject({ reason: 'stop-sequence', stopSequence: 'e' })
    expect(batched.pool.stats()).toEqual({ workers: 1, busy: 0, queued: 0 })
  })

  it('sends the text of tokens that come faster than streamIntervalMs as fewer messages, the first at once', async () => {
    const [paced, each] = await Promise.all([
      startPool({ streamIntervalMs: 20 }),
      startPool({ streamIntervalMs: 0 }),
    ])
    const job = await jobFor(paced.pool, longPrompt, 300)
    const started = performance.now()
    let firstTextMs = 0
    const coalesced = await run(paced.pool, job, {
      onText: (count) => {
        if (count === 1) firstTextMs = performance.now() - started
      },
    }).done
    const reference = await run(each.pool, job).done
    expect(coalesced.texts.join('')).toBe(reference.texts.join(''))
    expect(coalesced.end).toEqual(reference.end)
    // Every one of these 300 tokens is one piece; at a few thousand tokens a second, 20 ms hold dozens of them.
    expect(reference.texts).toHaveLength(300)
    expect(coalesced.texts.length).toBeLessThan(100)
    expect(coalesced.texts.length).toBeGreaterThan(1)
    expect(firstTextMs).toBeLessThan(200)
  })

  it('stops a cancelled row within a step while the others go on', async () => {
    const { pool } = await startPool({ maxBatch: 8 })
    const job = await jobFor(pool, longPrompt, 300)
    const others = [run(pool, job), run(pool, job)]
    let seenAtCancel = 0
    const cancelled = run(pool, job, {
      onText: (count) => {
        if (count === 20) {
          seenAtCancel = count
          cancelled.cancel()
        }
      },
    })
    const { outputTokens, cancelledAt } = (await cancelled.done).cancelled!
    expect(cancelledAt).toBeGreaterThanOrEqual(seenAtCancel)
    expect(outputTokens - cancelledAt).toBeLessThanOrEqual(1)
    for (const other of others) expect((await other.done).end).toMatchObject({ outputTokens: 300 })
  })
})
