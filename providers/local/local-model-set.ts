/**
 * One loaded set of a local provider's model versions: the worker pool that holds them (each worker loads every model
 * of the set) and what each model is. A call goes to the set serving when it arrives and stays on it to its end,
 * holding it open (`enter`). Activating another version of a model starts a new set beside this one and retires this
 * one, which takes no new calls and closes its pool once the last call it holds has ended: a stream that started on
 * the old version ends on it, and only then are its worker threads (and the memory of its models) released.
 */
import type { LocalModel } from './find-local-models.ts'
import {
  createLocalWorkerPool,
  type LocalProviderLog,
  type LocalWorkerPool,
  type LocalWorkerPoolOptions,
} from './local-worker-pool.ts'

export type LocalModelSet = {
  /** By name, as clients write it after the provider id. */
  readonly models: ReadonlyMap<string, LocalModel>
  readonly pool: LocalWorkerPool
  /** A call takes the set; it calls the function it gets back once it has ended (a second call does nothing). */
  enter(): () => void
  /** Calls holding it now. */
  holds(): number
  /** Takes no more calls, and closes the pool once the last call holding it has ended; resolves then. */
  retire(): Promise<void>
  /** Closes the pool now (shutdown): calls still on it fail with a 503. */
  close(): Promise<void>
}

export type LocalModelSetOptions = {
  models: readonly LocalModel[]
  workers: number
  intraOpNumThreads: number
  /** Generations one worker runs together (`LocalWorkerData.maxBatch`). */
  maxBatch: number
  streamIntervalMs: number
  spawn?: LocalWorkerPoolOptions['spawn']
  log: LocalProviderLog
}

/** Starts the set's workers, each loading every model; rejects with the first load failure (the workers stopped). */
export const startLocalModelSet = async (options: LocalModelSetOptions): Promise<LocalModelSet> => {
  const pool = createLocalWorkerPool({
    workers: options.workers,
    workerData: {
      models: options.models.map((model) => ({
        name: model.name,
        folder: model.folder,
        dtype: model.dtype,
        kind: model.kind,
        pooling: model.embedding?.pooling,
      })),
      intraOpNumThreads: options.intraOpNumThreads,
      maxBatch: options.maxBatch,
      streamIntervalMs: options.streamIntervalMs,
    },
    spawn: options.spawn,
    log: options.log,
  })
  await pool.start()
  let holds = 0
  let closing: Promise<void> | null = null
  /** Set while retired with calls still holding it: resolves `retire` once it has closed. */
  let retired: ((closed: Promise<void>) => void) | null = null
  const close = (): Promise<void> => {
    closing ??= pool.close()
    const resolveRetire = retired
    retired = null
    resolveRetire?.(closing)
    return closing
  }
  return {
    models: new Map(options.models.map((model) => [model.name, model])),
    pool,
    enter() {
      holds += 1
      let held = true
      return () => {
        if (!held) return
        held = false
        holds -= 1
        if (holds === 0 && retired !== null) void close()
      }
    },
    holds: () => holds,
    retire() {
      if (holds === 0 || closing !== null) return close()
      return new Promise<void>((resolve) => {
        retired = resolve
      })
    },
    close,
  }
}
