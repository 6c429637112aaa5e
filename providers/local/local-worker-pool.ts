/**
 * The worker threads that run the local models (`local-model-worker.ts`), and the queue in front of them. Each worker
 * runs up to `maxBatch` generations at once, sharing their forward passes (`create-generation-batcher.ts`); a new
 * generation goes to the ready worker running the fewest, else waits in one queue, first come first served.
 * Prompts are tokenized (chat template included) by any worker as soon as they arrive, between the steps of whatever
 * it is generating, so a request that is too long is refused without waiting for its turn. Embeddings go the same
 * way as prompts, to the least busy worker at once: a request is a few forward passes, not hundreds of steps, and
 * does not wait behind a long generation (which it delays by those passes).
 *
 * A cancel (the client's abort signal, or the caller's) takes a queued generation out of the queue, and stops a
 * running one at its next step: the worker is free for the next one a step later. A worker that exits while serving
 * (a crash) fails the calls it had with a 502 and is replaced at once; the other workers serve on. A replacement that
 * cannot load the models is tried again, less and less often; meanwhile, with no worker left, calls fail with a 503.
 * Closing asks each worker to end itself rather than terminating it (see `stopWorker`). A worker holds the process
 * open only while it has work.
 */
import { Worker } from 'node:worker_threads'
import type { AbortHandle } from '../spec/provider-adapter.ts'
import {
  localAborted,
  localEmbeddingFailed,
  localGenerationFailed,
  localInvalidRequest,
  localUnavailable,
  localWorkerCrashed,
} from './local-errors.ts'
import { localWorkerEntry } from './local-worker-entry.ts'
import type {
  EmbedJob,
  EndReason,
  FromWorker,
  GenerateJob,
  LocalWorkerData,
  TemplateMessage,
  ToWorker,
} from './local-worker-messages.ts'

export type GenerationEnd = {
  reason: Exclude<EndReason, 'cancelled'>
  stopSequence: string | null
  outputTokens: number
}

/** What a generation reports, in this order: `onStart`, `onText`s, then `onEnd` or `onError` (once, nothing after). */
export type GenerationHandlers = {
  onStart(): void
  onText(text: string): void
  onEnd(end: GenerationEnd): void
  onError(error: Error): void
  /**
   * After a cancel, once the worker has stopped: how many tokens it generated in all, and how many there were when it
   * read the cancel (between two steps: at most one more follows).
   */
  onCancelled?(tokens: { outputTokens: number; cancelledAt: number }): void
}

/** Where the pool reports what an operator must know of (a `Logger` is one). */
export type LocalProviderLog = {
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

export const silentLocalLog: LocalProviderLog = { info: () => {}, warn: () => {}, error: () => {} }

export type LocalWorkerPoolOptions = {
  workerData: LocalWorkerData
  workers: number
  /** Worker crashes and replacements (default: nowhere). */
  log?: LocalProviderLog
  /** Starts one worker thread: `new Worker(entry, { workerData })` unless given (a test keeps the handles). */
  spawn?: (entry: URL, workerData: LocalWorkerData) => Worker
  /** The first wait before loading a replacement again, doubling to a minute (default 1000). */
  respawnDelayMs?: number
}

/** What a worker made of an embeddings request. */
export type EmbedOutcome =
  /** One unit vector per input, `vectors.length / tokens.length` floats each, and each input's tokens. */
  | { kind: 'embedded'; vectors: Float32Array; tokens: number[] }
  /** Input `index` cannot be embedded: no token at all, or more than the model takes. */
  | { kind: 'refused'; index: number; tokens: number }

export type LocalWorkerPool = {
  /** Starts the workers; rejects with the first load failure (every worker then stopped). */
  start(): Promise<void>
  /** The prompt's token ids, from the model's chat template; a template's refusal is a 400. */
  prepare(
    request: { model: string; messages: TemplateMessage[] },
    signal: AbortHandle
  ): Promise<number[]>
  /** Embeds the inputs on the least busy worker; an abort of `signal` rejects at once and stops it between passes. */
  embed(job: EmbedJob, signal: AbortHandle): Promise<EmbedOutcome>
  /** Queues a generation. `cancel` stops it without a report; an abort of `signal` reports `onError` at once. */
  generate(
    job: GenerateJob,
    options: { signal: AbortHandle; handlers: GenerationHandlers }
  ): { cancel(): void }
  stats(): { workers: number; busy: number; queued: number }
  /** Stops every worker; calls still pending fail with a 503. */
  close(): Promise<void>
}

/** The answers of the messages a worker answers once (`prepare`, `embed`). */
type Answer = Extract<
  FromWorker,
  { type: 'prepared' | 'prepare-failed' | 'embedded' | 'embed-refused' | 'embed-failed' }
>

/** A message a worker answers once, and who waits for the answer. */
type Question = {
  id: number
  message: ToWorker
  /** The worker it went to; `null` while it waits for one. */
  slot: Slot | null
  answer(message: Answer): void
  reject(error: Error): void
}

type Generation = {
  id: number
  job: GenerateJob
  handlers: GenerationHandlers
  /** Reported to its caller (ended, failed or cancelled): nothing more is. */
  settled: boolean
  slot: Slot | null
  detach(): void
}

type Slot = {
  worker: Worker
  state: 'loading' | 'ready' | 'gone'
  /** The generations it runs (at most `maxBatch`, sharing their forward passes), by id. */
  generations: Map<number, Generation>
  /** Questions sent to it and not answered yet, by id. */
  questions: Map<number, Question>
  loadError: string | null
}

const maxRespawnDelayMs = 60_000

/** How long a closing worker gets to end by itself (a model being loaded finishes loading first). */
const stopTimeoutMs = 10_000

export const createLocalWorkerPool = (options: LocalWorkerPoolOptions): LocalWorkerPool => {
  const spawn = options.spawn ?? ((entry, workerData) => new Worker(entry, { workerData }))
  const firstRespawnDelayMs = options.respawnDelayMs ?? 1_000
  const log = options.log ?? silentLocalLog
  const maxBatch = Math.max(1, options.workerData.maxBatch)
  const slots: Slot[] = []
  const queue: Generation[] = []
  /** Questions that arrived while no worker was ready (every one being replaced). */
  const waiting: Question[] = []
  let nextId = 1
  let closed = false
  let respawnDelayMs = firstRespawnDelayMs
  let respawnTimer: ReturnType<typeof setTimeout> | undefined
  /** Set while no worker is ready because the last replacement could not load (the log says why). */
  let outage: Error | null = null

  const post = (slot: Slot, message: ToWorker): void => slot.worker.postMessage(message)
  const ready = (): Slot[] => slots.filter((slot) => slot.state === 'ready')

  const updateRef = (slot: Slot): void => {
    if (slot.state === 'loading' || slot.generations.size > 0 || slot.questions.size > 0)
      slot.worker.ref()
    else slot.worker.unref()
  }

  const settle = (generation: Generation, report: (handlers: GenerationHandlers) => void): void => {
    if (generation.settled) return
    generation.settled = true
    generation.detach()
    report(generation.handlers)
  }

  const pump = (): void => {
    while (queue.length > 0) {
      // The ready worker running the fewest generations, while it has room for one more.
      let slot: Slot | undefined
      for (const candidate of ready())
        if (
          candidate.generations.size < maxBatch &&
          (slot === undefined || candidate.generations.size < slot.generations.size)
        )
          slot = candidate
      if (slot === undefined) return
      const generation = queue.shift()!
      generation.slot = slot
      slot.generations.set(generation.id, generation)
      post(slot, { type: 'generate', id: generation.id, ...generation.job })
      updateRef(slot)
    }
  }

  const sendQuestion = (slot: Slot, question: Question): void => {
    question.slot = slot
    slot.questions.set(question.id, question)
    post(slot, question.message)
    updateRef(slot)
  }

  const freeSlot = (slot: Slot, generation: Generation): void => {
    slot.generations.delete(generation.id)
    updateRef(slot)
    pump()
  }

  const onMessage = (slot: Slot, message: FromWorker): void => {
    switch (message.type) {
      case 'ready':
        return
      case 'load-failed':
        // The thread ends by itself; its exit fails the load with this message.
        slot.loadError = message.message
        return
      case 'prepared':
      case 'prepare-failed':
      case 'embedded':
      case 'embed-refused':
      case 'embed-failed': {
        const question = slot.questions.get(message.id)
        slot.questions.delete(message.id)
        updateRef(slot)
        question?.answer(message)
        return
      }
    }
    const generation = slot.generations.get(message.id)
    if (generation === undefined) return
    switch (message.type) {
      case 'started':
        if (!generation.settled) generation.handlers.onStart()
        return
      case 'text':
        if (!generation.settled) generation.handlers.onText(message.text)
        return
      case 'end':
        if (message.reason !== 'cancelled') {
          const { stopSequence, outputTokens } = message
          const reason = message.reason
          settle(generation, (handlers) => handlers.onEnd({ reason, stopSequence, outputTokens }))
        } else
          generation.handlers.onCancelled?.({
            outputTokens: message.outputTokens,
            cancelledAt: message.cancelledAt ?? message.outputTokens,
          })
        freeSlot(slot, generation)
        return
      case 'failed':
        settle(generation, (handlers) => handlers.onError(localGenerationFailed(message.message)))
        freeSlot(slot, generation)
        return
    }
  }

  /** Fails what waits for a worker when none can come soon. */
  const failWaiting = (error: Error): void => {
    for (const question of waiting.splice(0)) question.reject(error)
    for (const generation of queue.splice(0))
      settle(generation, (handlers) => handlers.onError(error))
  }

  const spawnSlot = (): { slot: Slot; loaded: Promise<void> } => {
    const worker = spawn(localWorkerEntry(), options.workerData)
    const slot: Slot = {
      worker,
      state: 'loading',
      generations: new Map(),
      questions: new Map(),
      loadError: null,
    }
    slots.push(slot)
    const loaded = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready' && slot.state === 'loading') {
          slot.state = 'ready'
          updateRef(slot)
          resolve()
        }
        onMessage(slot, message)
      })
      let lastError = ''
      worker.on('error', (error) => {
        lastError = error.message
      })
      worker.on('exit', (code) => {
        const wasReady = slot.state === 'ready'
        slot.state = 'gone'
        const index = slots.indexOf(slot)
        if (index !== -1) slots.splice(index, 1)
        const detail =
          slot.loadError ??
          `the worker thread exited (code ${code})${lastError === '' ? '' : `: ${lastError}`}`
        if (!wasReady) reject(new Error(detail))
        if (closed || !wasReady) return
        const crashed = localWorkerCrashed(detail)
        log.warn(
          { detail, failedCalls: slot.questions.size + slot.generations.size },
          'local model worker exited; starting another'
        )
        for (const question of slot.questions.values()) question.reject(crashed)
        slot.questions.clear()
        for (const generation of slot.generations.values())
          settle(generation, (handlers) => handlers.onError(crashed))
        replace()
      })
    })
    return { slot, loaded }
  }

  /** Starts a worker in place of one that exited; tries again later while it cannot load. */
  const replace = (): void => {
    const { slot, loaded } = spawnSlot()
    loaded.then(
      () => {
        log.info({ workers: ready().length }, 'local model worker ready')
        outage = null
        respawnDelayMs = firstRespawnDelayMs
        for (const question of waiting.splice(0)) sendQuestion(slot, question)
        pump()
      },
      (error: Error) => {
        if (closed) return
        log.error(
          { detail: error.message, retryInMs: respawnDelayMs },
          'local model worker cannot load the models'
        )
        if (ready().length === 0) {
          outage = localUnavailable(
            "The local model's workers cannot load its models; the gateway's log says why.",
            error.message
          )
          failWaiting(outage)
        }
        respawnTimer = setTimeout(replace, respawnDelayMs)
        respawnTimer.unref()
        respawnDelayMs = Math.min(respawnDelayMs * 2, maxRespawnDelayMs)
      }
    )
  }

  /**
   * Asks a worker to end itself (`local-model-worker.ts`'s `close`: its generation stopped within a step, its models
   * released) and waits for its exit. Only one that does not end in time is terminated from outside, which, were it
   * inside onnxruntime at that moment, would abort the process.
   */
  const stopWorker = (slot: Slot): Promise<void> =>
    new Promise<void>((resolve) => {
      if (slot.state === 'gone') return resolve()
      const timer = setTimeout(() => void slot.worker.terminate(), stopTimeoutMs)
      slot.worker.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      slot.worker.ref()
      post(slot, { type: 'close' })
    })

  /**
   * Sends a message a worker answers once to the least busy worker (an idle one answers at once, a generating one
   * between two steps), or keeps it until one is ready; `read` turns the answer into the result, or throws. An abort
   * rejects at once, and tells the worker, which stops an embeddings request between two passes.
   */
  const ask = <T>(
    signal: AbortHandle,
    message: (id: number) => ToWorker,
    read: (answer: Answer) => T
  ): Promise<T> => {
    if (closed) return Promise.reject(localUnavailable('The local model provider is shut down.'))
    if (signal.aborted) return Promise.reject(localAborted())
    const candidates = ready()
    if (candidates.length === 0 && outage !== null) return Promise.reject(outage)
    return new Promise<T>((resolve, reject) => {
      const id = nextId++
      const onAbort = (): void => {
        const queued = waiting.indexOf(question)
        if (queued !== -1) waiting.splice(queued, 1)
        const slot = question.slot
        if (slot !== null && slot.questions.delete(id)) {
          if (slot.state === 'ready') post(slot, { type: 'cancel', id })
          updateRef(slot)
        }
        reject(localAborted())
      }
      const question: Question = {
        id,
        message: message(id),
        slot: null,
        answer: (answer) => {
          signal.removeEventListener('abort', onAbort)
          try {
            resolve(read(answer))
          } catch (error) {
            reject(error as Error)
          }
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const load = (slot: Slot): number => slot.questions.size + slot.generations.size
      const slot = candidates.sort((a, b) => load(a) - load(b))[0]
      if (slot === undefined) waiting.push(question)
      else sendQuestion(slot, question)
    })
  }

  const close = async (): Promise<void> => {
    closed = true
    clearTimeout(respawnTimer)
    const error = localUnavailable('The local model provider is shut down.')
    failWaiting(error)
    const stopping = slots.splice(0)
    for (const slot of stopping) {
      for (const question of slot.questions.values()) question.reject(error)
      for (const generation of slot.generations.values())
        settle(generation, (handlers) => handlers.onError(error))
    }
    await Promise.all(stopping.map(stopWorker))
  }

  return {
    async start() {
      const spawned = Array.from({ length: options.workers }, () => spawnSlot())
      const results = await Promise.allSettled(spawned.map(({ loaded }) => loaded))
      const failed = results.find((result) => result.status === 'rejected')
      if (failed !== undefined) {
        await close()
        throw failed.reason
      }
    },

    prepare(request, signal) {
      return ask(
        signal,
        (id) => ({ type: 'prepare', id, ...request }),
        (answer) => {
          if (answer.type === 'prepared') return answer.inputIds
          if (answer.type === 'prepare-failed')
            throw localInvalidRequest(
              `The model's chat template refused the conversation: ${answer.message}`,
              'messages'
            )
          throw new Error(`a prepare answered with ${answer.type}`)
        }
      )
    },

    embed(job, signal) {
      return ask(
        signal,
        (id) => ({ type: 'embed', id, ...job }),
        (answer): EmbedOutcome => {
          if (answer.type === 'embedded')
            return { kind: 'embedded', vectors: answer.vectors, tokens: answer.tokens }
          if (answer.type === 'embed-refused')
            return { kind: 'refused', index: answer.index, tokens: answer.tokens }
          if (answer.type === 'embed-failed')
            throw localEmbeddingFailed(answer.message ?? 'stopped after a cancel')
          throw new Error(`an embed answered with ${answer.type}`)
        }
      )
    },

    generate(job, { signal, handlers }) {
      const onAbort = (): void => cancel(localAborted())
      const generation: Generation = {
        id: nextId++,
        job,
        handlers,
        settled: false,
        slot: null,
        detach: () => signal.removeEventListener('abort', onAbort),
      }
      const cancel = (error: Error | null): void => {
        if (generation.settled) return
        settle(generation, (reported) => {
          if (error !== null) reported.onError(error)
        })
        const queued = queue.indexOf(generation)
        if (queued !== -1) queue.splice(queued, 1)
        else if (generation.slot?.state === 'ready')
          post(generation.slot, { type: 'cancel', id: generation.id })
      }
      if (closed) {
        handlers.onError(localUnavailable('The local model provider is shut down.'))
        return { cancel: () => {} }
      }
      if (signal.aborted) {
        handlers.onError(localAborted())
        return { cancel: () => {} }
      }
      signal.addEventListener('abort', onAbort, { once: true })
      if (ready().length === 0 && outage !== null) {
        const unavailable = outage
        settle(generation, (reported) => reported.onError(unavailable))
        return { cancel: () => {} }
      }
      queue.push(generation)
      pump()
      return { cancel: () => cancel(null) }
    },

    stats: () => ({
      workers: ready().length,
      busy: slots.reduce((sum, slot) => sum + slot.generations.size, 0),
      queued: queue.length,
    }),

    close,
  }
}
