/**
 * The local model's figures (issue 14), measured against the gateway as shipped, in a process of its own (unpinned:
 * its main thread and its model worker each need a core) with its event loop watched from inside
 * (`event-loop-probe.mjs`), while this process streams chat completions from `local/<model>` over HTTP:
 * - one stream at a time: time to first token and tokens per second of a stream;
 * - eight at once, generations sharing their forward passes (`maxBatch: 8`), and the same eight one at a time
 *   (`maxBatch: 1`, another provider of the same gateway): tokens per second in all, and the gain of batching;
 * - the int8 weights (`dtype: q8`) against fp32: file size and a stream's tokens per second;
 * - the gateway's event loop delay (p99) in every phase: it must stay under 5 ms.
 * Every stream is greedy, with a prompt the shipped model's fp32 weights never end before `max_tokens`.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { serveNodeFlags } from '../src/runtime/serve-node-flags.ts'
import { benchSettings } from './bench-settings.ts'
import { percentile } from './load-common.ts'
import { stopChild } from './spawn-pinned.ts'
import { startGateway } from './start-bench-processes.ts'

const probe = fileURLToPath(new URL('./event-loop-probe.mjs', import.meta.url))

/** The bound on the gateway's event loop p99 delay while the local model generates. */
export const eventLoopBoundMs = 5

// Greedy, the shipped model runs this prompt past 450 tokens without an end token.
const prompt = 'Tell me about the local model.'

export type EventLoopDelay = { p50Ms: number; p99Ms: number; maxMs: number; samples: number }

export type LocalPhase = {
  name: string
  /** `local` (batched), `local-serial` (one at a time) or `local-q8` (int8 weights, batched). */
  provider: string
  concurrency: number
  streams: number
  /** Completion tokens in all (usage), and per stream as asked. */
  tokens: number
  seconds: number
  tokensPerSecond: number
  /** Of the single streams: tokens after the first, over the time after the first. */
  streamTokensPerSecond: number
  firstTokenMs: { p50: number; p99: number }
  eventLoop: EventLoopDelay
}

export type LocalModelFigures = {
  model: string
  maxTokens: number
  /** The gateway's event loop delay over two seconds of nothing to do: what the machine's other load costs it. */
  idleEventLoop: EventLoopDelay
  phases: LocalPhase[]
  /** Eight at once, batched over one at a time. */
  batchingGain: number
  sizes: { fp32Bytes: number; int8Bytes: number }
  /** A single int8 stream's tokens per second over fp32's. */
  int8SpeedRatio: number
}

type StreamFigures = { firstTokenMs: number; tokens: number; totalMs: number }

/** One streamed chat completion, read as it comes: when its first text arrived, and its usage. */
const streamOnce = async (
  url: string,
  model: string,
  maxTokens: number
): Promise<StreamFigures> => {
  const started = performance.now()
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${benchSettings.masterKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: prompt }],
      temperature: 0,
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    }),
  })
  if (!response.ok || response.body === null)
    throw new Error(`${model}: HTTP ${response.status}: ${await response.text()}`)
  let firstTokenMs: number | null = null
  let tokens = 0
  let buffered = ''
  const decoder = new TextDecoder()
  for await (const bytes of response.body) {
    buffered += decoder.decode(bytes, { stream: true })
    let newline = buffered.indexOf('\n')
    while (newline !== -1) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      newline = buffered.indexOf('\n')
      // Read cheaply (this process shares the machine with the gateway): the first chunk with text, and the usage.
      if (firstTokenMs === null && line.includes('"content":"') && !line.includes('"content":""'))
        firstTokenMs = performance.now() - started
      if (line.startsWith('data: {') && line.includes('"usage":{'))
        tokens = (JSON.parse(line.slice(6)) as { usage: { completion_tokens: number } }).usage
          .completion_tokens
    }
  }
  if (firstTokenMs === null) throw new Error(`${model}: the stream had no text`)
  return { firstTokenMs, tokens, totalMs: performance.now() - started }
}

/** Asks the probe in the gateway and waits for its answer. */
const askProbe = (child: ChildProcess, action: 'start' | 'read'): Promise<EventLoopDelay> =>
  new Promise((resolve, reject) => {
    if (!child.connected) {
      reject(new Error('the gateway is gone (its event loop probe cannot be asked)'))
      return
    }
    const timer = setTimeout(() => {
      child.off('message', onMessage)
      reject(new Error('the gateway did not answer the event loop probe'))
    }, 5_000)
    const onMessage = (message: { type?: string } & EventLoopDelay): void => {
      if (message?.type !== 'event-loop') return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
    child.send({ type: 'event-loop', action })
  })

export const runLocalModelBench = async (options: {
  /** The gateway's CLI (`bin/gatehouse.js` over a fresh build). */
  bin: string
  /** Holds `<model>/<version>/` folders, as `npm run model:build` writes them. */
  modelsDirectory: string
  model: string
  /** The version folder whose weights' sizes are reported. */
  version: string
  maxTokens: number
  /** Streams, one at a time, per single-stream phase. */
  singleStreams: number
  /** Rounds of eight concurrent streams per eight-way phase. */
  rounds: number
  /** Each phase runs at least this long (more streams or rounds), so that its event loop figures hold. */
  minSeconds: number
  logPath: string
  /** More Node flags for the gateway (after those `npm start` passes). */
  nodeOptions?: string[]
  onProgress?: (message: string) => void
  /**
   * Ends the run early: the gateway is killed at once, so that what is waiting on it fails and the run rejects after
   * its cleanup (a test that timed out, whose runner would otherwise leave the gateway behind).
   */
  signal?: AbortSignal
}): Promise<LocalModelFigures> => {
  const { bin, modelsDirectory, model, maxTokens } = options
  const configDirectory = mkdtempSync(join(tmpdir(), 'gatehouse-bench-local-'))
  const configPath = join(configDirectory, 'gatehouse.yaml')
  const local = (extra: Record<string, unknown>) => ({
    type: 'local',
    directory: modelsDirectory,
    models: [model],
    ...extra,
  })
  writeFileSync(
    configPath,
    stringify({
      providers: {
        local: local({ maxBatch: 8 }),
        'local-serial': local({ maxBatch: 1 }),
        'local-q8': local({ maxBatch: 8, dtype: 'q8' }),
      },
    })
  )
  const gateway = await startGateway({
    configPath,
    mockBaseUrl: 'http://127.0.0.1:9/v1',
    logPath: options.logPath,
    bin,
    nodeOptions: [...serveNodeFlags, ...(options.nodeOptions ?? []), '--import', probe],
    // A store of its own, never the repository's `data/`.
    env: { DATABASE_URL: `sqlite:${join(configDirectory, 'gatehouse.db')}` },
    core: null,
    ipc: true,
  })
  const kill = (): void => {
    gateway.child.kill('SIGKILL')
  }
  options.signal?.addEventListener('abort', kill, { once: true })
  try {
    if (options.signal?.aborted) kill()
    const phases: LocalPhase[] = []
    /** `exact`: every stream runs to `max_tokens` (fp32 greedy on this prompt; other weights may end sooner). */
    const measure = async (
      name: string,
      provider: string,
      concurrency: number,
      rounds: number,
      exact = true
    ) => {
      options.onProgress?.(`local model: ${name}`)
      const target = `${provider}/${model}`
      await streamOnce(gateway.url, target, maxTokens)
      await askProbe(gateway.child, 'start')
      const started = performance.now()
      const streams: StreamFigures[] = []
      // At least `rounds`, and at least `minSeconds`: a p99 wants a thousand samples or so.
      for (
        let round = 0;
        round < rounds || performance.now() - started < options.minSeconds * 1000;
        round += 1
      )
        streams.push(
          ...(await Promise.all(
            Array.from({ length: concurrency }, () => streamOnce(gateway.url, target, maxTokens))
          ))
        )
      const seconds = (performance.now() - started) / 1000
      const eventLoop = await askProbe(gateway.child, 'read')
      const tokens = streams.reduce((sum, stream) => sum + stream.tokens, 0)
      const expected = maxTokens * streams.length
      if (exact ? tokens !== expected : tokens === 0)
        throw new Error(`${name}: ${tokens} completion tokens, ${expected} expected`)
      const firstTokens = Float64Array.from(streams, (stream) => stream.firstTokenMs).sort()
      const phase: LocalPhase = {
        name,
        provider,
        concurrency,
        streams: streams.length,
        tokens,
        seconds,
        tokensPerSecond: tokens / seconds,
        streamTokensPerSecond:
          streams.reduce(
            (sum, stream) =>
              sum + (stream.tokens - 1) / ((stream.totalMs - stream.firstTokenMs) / 1000),
            0
          ) / streams.length,
        firstTokenMs: {
          p50: percentile(firstTokens, 0.5) ?? 0,
          p99: percentile(firstTokens, 0.99) ?? 0,
        },
        eventLoop,
      }
      phases.push(phase)
      return phase
    }
    await askProbe(gateway.child, 'start')
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const idleEventLoop = await askProbe(gateway.child, 'read')
    const single = await measure('one stream at a time, fp32', 'local', 1, options.singleStreams)
    const batched = await measure('8 at once, batched', 'local', 8, options.rounds)
    const serial = await measure('8 at once, one at a time', 'local-serial', 8, options.rounds)
    const int8 = await measure(
      'one stream at a time, int8',
      'local-q8',
      1,
      options.singleStreams,
      false
    )
    const onnx = join(modelsDirectory, model, options.version, 'onnx')
    return {
      model,
      maxTokens,
      idleEventLoop,
      phases,
      batchingGain: batched.tokensPerSecond / serial.tokensPerSecond,
      sizes: {
        fp32Bytes: statSync(join(onnx, 'model.onnx')).size,
        int8Bytes: statSync(join(onnx, 'model_quantized.onnx')).size,
      },
      int8SpeedRatio: int8.streamTokensPerSecond / single.streamTokensPerSecond,
    }
  } finally {
    options.signal?.removeEventListener('abort', kill)
    await stopChild(gateway.child, 15_000)
    rmSync(configDirectory, { recursive: true, force: true })
  }
}

/** Whether the event loop stayed under its bound in every phase. */
export const localModelPasses = (figures: LocalModelFigures): boolean =>
  figures.phases.every((phase) => phase.eventLoop.p99Ms < eventLoopBoundMs)

export const formatLocalModelReport = (figures: LocalModelFigures): string => {
  const lines = [
    `Local model (local/${figures.model}, greedy, ${figures.maxTokens} tokens a stream, the gateway in its own process)`,
    '| phase | streams | tokens/s in all | tokens/s a stream | first token p50 / p99 (ms) | event loop p99 (ms) |',
    '|---|---|---|---|---|---|',
    ...figures.phases.map(
      (phase) =>
        `| ${phase.name} | ${phase.streams} | ${phase.tokensPerSecond.toFixed(0)} | ` +
        `${phase.streamTokensPerSecond.toFixed(0)} | ${phase.firstTokenMs.p50.toFixed(1)} / ` +
        `${phase.firstTokenMs.p99.toFixed(1)} | ${phase.eventLoop.p99Ms.toFixed(2)} |`
    ),
    `Batching: 8 at once give ${figures.batchingGain.toFixed(2)}x the tokens per second of the same 8 one at a time.`,
    `int8 weights: ${(figures.sizes.int8Bytes / 1024).toFixed(0)} KiB against ${(figures.sizes.fp32Bytes / 1024).toFixed(0)} KiB ` +
      `fp32 (${(figures.sizes.int8Bytes / figures.sizes.fp32Bytes).toFixed(2)}x), a stream at ` +
      `${figures.int8SpeedRatio.toFixed(2)}x fp32's tokens per second.`,
    `${localModelPasses(figures) ? 'PASS' : 'FAIL'}: the event loop's p99 delay under ${eventLoopBoundMs} ms in every phase ` +
      `(worst ${Math.max(...figures.phases.map((phase) => phase.eventLoop.p99Ms)).toFixed(2)} ms; ` +
      `${figures.idleEventLoop.p99Ms.toFixed(2)} ms in the same gateway with nothing to do).`,
  ]
  return lines.join('\n')
}
