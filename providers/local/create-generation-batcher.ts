/**
 * Continuous batching of one chat model's generations in a model worker: the generations running on the same model
 * share their forward passes, so each decoding step runs the model once for all of them (one matrix product per
 * weight instead of one per request), which is where a CPU spends its time on small batches.
 *
 * A new generation joins between two steps: its prompt runs alone (the prefill, which gives its first token and its
 * keys and values), then its cache is regrouped with the others' (`regroup-kv-cache.ts`: left padding hidden by the
 * attention mask, each row's `position_ids` its own). A generation that ends (end token, stop sequence, length,
 * cancel) leaves at once and the others go on; nobody waits for a batch to drain. Transformers.js runs the forward
 * passes (`model.forward`, which fills what an export needs: `use_cache_branch`, `num_logits_to_keep`) and builds
 * the model's own logits processors (`repetition_penalty` from `generation_config.json`...), one list per generation,
 * with this request's seeded sampler last; tokens are picked from what the processors leave, as `generate` picks.
 * Between two steps the loop yields, so the worker reads cancels, prompts to tokenize and embeddings requests.
 */
import { LogitsProcessorList, Tensor, type GenerationConfig } from '@huggingface/transformers'
import { createGenerationOutput, type GenerationOutput } from './create-generation-output.ts'
import { createSeededRandom } from './create-seeded-random.ts'
import type { FromWorker, GenerateJob } from './local-worker-messages.ts'
import { regroupKvCache, type KvCache } from './regroup-kv-cache.ts'
import type { LoadedModel } from './loaded-model.ts'
import { SeededSampler } from './seeded-sampler.ts'

export type GenerationBatcher = {
  /** Starts a generation (it joins the batch before the next step); resolves once its end is posted. */
  add(id: number, job: GenerateJob): { cancel(): void; done: Promise<void> }
}

type Row = {
  output: GenerationOutput
  /** The prompt and what was generated, as the logits processors read them. */
  ids: bigint[]
  /** Positions in the cache (the prompt and every token fed back). */
  length: number
  /** The token to feed at the next step. */
  next: number
  processors: LogitsProcessorList
  resolve(): void
}

type Pending = { id: number; job: GenerateJob; output: GenerationOutput; resolve(): void }

type ModelOutputs = Record<string, Tensor> & { logits: Tensor }

/** Transformers.js builds a `generate` call's processors with this; it is private in the typings only. */
type WithProcessors = {
  _get_logits_processor(
    config: GenerationConfig,
    inputLength: number,
    extra: LogitsProcessorList
  ): LogitsProcessorList
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const int64 = (values: ArrayLike<number>, dims: number[]): Tensor =>
  new Tensor(
    'int64',
    BigInt64Array.from(values as number[], (value) => BigInt(value)),
    dims
  )

/** The present keys and values a forward pass returned, named as the next pass takes them. */
const cacheOf = (outputs: ModelOutputs): KvCache => {
  const cache: KvCache = {}
  for (const name of Object.keys(outputs))
    if (name.startsWith('present.'))
      cache[`past_key_values.${name.slice('present.'.length)}`] = outputs[name]
  return cache
}

const argmax = (row: Float32Array): number => {
  let best = 0
  for (let index = 1; index < row.length; index += 1) if (row[index] > row[best]) best = index
  return best
}

export const createGenerationBatcher = (options: {
  loaded: LoadedModel
  /** The most generations in one batch; others wait for a row to free (first come, first served). */
  maxBatch: number
  send: (message: FromWorker) => void
  /** `createGenerationOutput`'s. */
  intervalMs: number
}): GenerationBatcher => {
  const { loaded, maxBatch, send, intervalMs } = options
  const model = loaded.model
  const generationConfig = model._prepare_generation_config(null, { do_sample: false })
  const pending: Pending[] = []
  let rows: Row[] = []
  /** The batch's cache, `width` positions wide; `null` while no row runs. */
  let cache: KvCache | null = null
  let width = 0
  let looping = false

  const processorsFor = (job: GenerateJob): LogitsProcessorList => {
    const extra = new LogitsProcessorList()
    const { temperature, topK, topP, seed } = job.sampling
    if (temperature > 0)
      extra.push(new SeededSampler({ temperature, topK, topP, random: createSeededRandom(seed) }))
    return (model as unknown as WithProcessors)._get_logits_processor(
      generationConfig,
      job.inputIds.length,
      extra
    )
  }

  /**
   * Runs the row's processors over its logits (a copy: they write into it) and picks the token left on top; with no
   * processor (greedy, and a model that asks for none), the top token of the logits themselves, with nothing copied.
   */
  const pick = (row: Row, logits: Float32Array): number => {
    if (row.processors.processors.length === 0) return argmax(logits)
    const scores = new Tensor('float32', logits.slice(), [1, logits.length])
    const processed = row.processors._call([row.ids], scores)
    return argmax(processed.data as Float32Array)
  }

  /** Feeds `token` to the row's output; false when that ended it. */
  const accept = (row: Row, token: number): boolean => {
    row.ids.push(BigInt(token))
    row.next = token
    return !row.output.push(token)
  }

  const end = (row: { output: GenerationOutput; resolve(): void }, error?: unknown): void => {
    if (error === undefined) row.output.finish()
    else row.output.fail((error as Error).message)
    row.resolve()
  }

  /** Runs a prompt alone; the row joins the batch unless its first token already ended it. */
  const prefill = async (entry: Pending): Promise<void> => {
    const { job } = entry
    const length = job.inputIds.length
    const outputs = (await model.forward({
      input_ids: int64(job.inputIds, [1, length]),
      attention_mask: new Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]),
      num_logits_to_keep: new Tensor('int64', [1n], []),
    })) as ModelOutputs
    const logits = outputs.logits.to('float32')
    const vocab = logits.dims.at(-1)!
    const last = (logits.data as Float32Array).subarray(logits.data.length - vocab)
    const row: Row = {
      output: entry.output,
      ids: job.inputIds.map((id) => BigInt(id)),
      length,
      next: 0,
      processors: processorsFor(job),
      resolve: entry.resolve,
    }
    if (!accept(row, pick(row, last))) {
      end(row)
      return
    }
    const own = cacheOf(outputs)
    const joined = [
      ...rows.map((kept, index) => ({ cache: cache!, row: index, length: kept.length })),
      { cache: own, row: 0, length },
    ]
    width = Math.max(width, length)
    cache = rows.length === 0 ? own : regroupKvCache(joined, width)
    rows = [...rows, row]
  }

  /** One position for every row: each row's next token in, each row's following token out. */
  const step = async (): Promise<void> => {
    const batch = rows.length
    // Built as int64 at once: a BigInt per position would be thousands of allocations a step.
    const mask = new BigInt64Array(batch * (width + 1))
    rows.forEach((row, index) => {
      const rowEnd = (index + 1) * (width + 1)
      mask.fill(1n, rowEnd - row.length - 1, rowEnd)
    })
    const outputs = (await model.forward({
      input_ids: int64(
        rows.map((row) => row.next),
        [batch, 1]
      ),
      attention_mask: new Tensor('int64', mask, [batch, width + 1]),
      position_ids: int64(
        rows.map((row) => row.length),
        [batch, 1]
      ),
      past_key_values: cache,
    })) as ModelOutputs
    cache = cacheOf(outputs)
    width += 1
    const logits = outputs.logits.to('float32').data as Float32Array
    const vocab = logits.length / batch
    rows.forEach((row, index) => {
      row.length += 1
      if (!row.output.over)
        accept(row, pick(row, logits.subarray(index * vocab, (index + 1) * vocab)))
    })
  }

  /** Ends the rows that are over (ended or cancelled) and regroups the cache without them. */
  const leave = (): void => {
    if (!rows.some((row) => row.output.over)) return
    const previous = cache!
    const staying = rows.flatMap((row, index) => (row.output.over ? [] : [index]))
    for (const row of rows) if (row.output.over) end(row)
    const kept = staying.map((index) => rows[index])
    width = Math.max(0, ...kept.map((row) => row.length))
    cache =
      kept.length === 0
        ? null
        : regroupKvCache(
            staying.map((index) => ({ cache: previous, row: index, length: rows[index].length })),
            width
          )
    rows = kept
  }

  /** Fails every running row (a forward pass threw); the batch starts afresh with what is pending. */
  const failRunning = (error: unknown): void => {
    for (const row of rows) end(row, error)
    rows = []
    cache = null
    width = 0
  }

  const loop = async (): Promise<void> => {
    looping = true
    try {
      while (rows.length > 0 || pending.length > 0) {
        // Rows cancelled since the last step leave before it.
        leave()
        while (pending.length > 0 && rows.length < maxBatch) {
          const entry = pending.shift()!
          if (entry.output.over) {
            end(entry)
            continue
          }
          try {
            await prefill(entry)
          } catch (error) {
            end(entry, error)
          }
        }
        if (rows.length > 0) {
          try {
            await step()
            leave()
          } catch (error) {
            failRunning(error)
          }
        }
        await nextTurn()
      }
    } finally {
      looping = false
    }
  }

  return {
    add(id, job) {
      const output = createGenerationOutput({ id, loaded, job, send, intervalMs })
      send({ type: 'started', id })
      let resolve = (): void => {}
      const done = new Promise<void>((resolveDone) => (resolve = resolveDone))
      pending.push({ id, job, output, resolve })
      if (!looping) void loop()
      return { cancel: () => output.cancel(), done }
    },
  }
}
