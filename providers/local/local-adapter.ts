/**
 * The local model as a provider: causal language models for chat and base models for embeddings, in the Hugging Face
 * ONNX layout, run in-process by onnxruntime-node (through Transformers.js) in worker threads
 * (`local-worker-pool.ts`), so the gateway answers with no upstream at all. Node only: only the Node runtime's
 * factories build it, and the Workers bundle never imports it.
 *
 * It forwards nothing (it has no wire format of its own): both dialects reach it through the canonical types, and
 * embeddings through `embed`. A chat call is checked (`read-local-chat-request.ts`), its prompt rendered by the
 * model's chat template and tokenized in a worker, then checked against the context window before any generation:
 * prompt and `max_tokens` beyond it are a 400 naming the limit. Without `max_tokens` the answer may run to the end of
 * the window. Usage is exact: the prompt's tokens and every generated token, the end-of-sequence token included.
 * An embeddings call is refused, naming the input, for a token id beyond the vocabulary, an input with no token or
 * more than the model takes (never truncated), and a `dimensions` other than the model's; its usage is the tokens
 * embedded. Chat on an embedding model and embeddings on a chat model are 400s (`cannotServe`, which the router asks
 * first, so a fallback list skips such targets).
 */
import type { ChatChunk, ChatRequest, ChatResult, FinishReason, Usage } from '../spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../spec/embedding-types.ts'
import { isGenerative, type Operation } from '../spec/operation.ts'
import type { CallContext, ModelInfo, ProviderAdapter } from '../spec/provider-adapter.ts'
import { findLocalModels, type LocalModel } from './find-local-models.ts'
import {
  localEmbeddingFailed,
  localInvalidRequest,
  localModelNotFound,
  localUnavailable,
} from './local-errors.ts'
import type { GenerateJob } from './local-worker-messages.ts'
import {
  createLocalWorkerPool,
  silentLocalLog,
  type GenerationEnd,
  type GenerationHandlers,
  type LocalProviderLog,
  type LocalWorkerPool,
  type LocalWorkerPoolOptions,
} from './local-worker-pool.ts'
import { readLocalChatRequest } from './read-local-chat-request.ts'
import type { LocalModelDtype } from './read-model-folder.ts'

export type LocalAdapterSettings = {
  /** Provider instance id from config (`local`): the prefix of its models' names. */
  id: string
  /** Absolute path of the folder holding the model folders. */
  directory: string
  /** The model folders to serve; `null`: every one under `directory`. */
  models: readonly string[] | null
  workers: number
  intraOpNumThreads: number
  /** Generations one worker runs together (`LocalWorkerData.maxBatch`). */
  maxBatch: number
  dtype: LocalModelDtype
  /** Epoch milliseconds, for `created`. Defaults to `Date.now`. */
  now?: () => number
  /** How worker threads are started (`LocalWorkerPoolOptions.spawn`). */
  spawn?: LocalWorkerPoolOptions['spawn']
  /** The models loaded, worker crashes and replacements (default: nowhere). */
  log?: LocalProviderLog
}

const finishReasonOf = (end: GenerationEnd): FinishReason => {
  switch (end.reason) {
    case 'length':
      return { unified: 'length', raw: 'length' }
    case 'stop-sequence':
      return end.stopSequence === null
        ? { unified: 'stop', raw: 'stop_sequence' }
        : { unified: 'stop', raw: 'stop_sequence', stopSequence: end.stopSequence }
    case 'end-token':
      return { unified: 'stop', raw: 'stop' }
  }
}

/** No prompt cache, no reasoning: those counts are known to be 0. */
const usageOf = (inputTokens: number, outputTokens: number | null): Usage => ({
  inputTokens,
  outputTokens,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningTokens: 0,
})

/** A random 32-bit seed for a call that sent none: its samples are its own. */
const randomSeed = (): number => crypto.getRandomValues(new Uint32Array(1))[0]

const randomId = (): string => `local-${crypto.randomUUID().replaceAll('-', '')}`

/** How a message names input `index` of `count`. */
const inputName = (index: number, count: number): string =>
  count === 1 ? 'The input' : `input[${index}]`

/** The first token id of an input that is not one of the model's (`null`: all are). */
const foreignTokenId = (ids: readonly number[], vocabSize: number): number | null => {
  for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= vocabSize) return id
  return null
}

export const createLocalAdapter = (settings: LocalAdapterSettings): ProviderAdapter => {
  const now = settings.now ?? Date.now
  const log = settings.log ?? silentLocalLog
  let models = new Map<string, LocalModel>()
  let pool: LocalWorkerPool | null = null

  const namesOf = (kind: LocalModel['kind']): string => {
    const names = [...models.values()]
      .filter((model) => model.kind === kind)
      .map((model) => `${settings.id}/${model.name}`)
    return names.length === 0 ? 'none' : names.join(', ')
  }

  /** Why `model` cannot serve `operation` (chat on an embedding model, embeddings on a chat model), or `null`. */
  const refusal = (operation: Operation, model: LocalModel): string | null => {
    const modelId = `${settings.id}/${model.name}`
    if (operation === 'embeddings' && model.kind === 'chat')
      return `\`${modelId}\` is a chat model: it cannot create embeddings. This provider's embedding models: ${namesOf('embedding')}.`
    if (isGenerative(operation) && model.kind === 'embedding')
      return `\`${modelId}\` is an embedding model: it serves /v1/embeddings, not chat. This provider's chat models: ${namesOf('chat')}.`
    return null
  }

  /** The model a call names, of a kind that can serve the operation; throws a 404 or a 400 otherwise. */
  const modelFor = (operation: Operation, name: string): LocalModel => {
    const model = models.get(name)
    if (model === undefined) throw localModelNotFound(`${settings.id}/${name}`, [...models.keys()])
    const refused = refusal(operation, model)
    if (refused !== null) throw localInvalidRequest(refused, 'model')
    return model
  }

  /** Everything before the generation: the model, the request's settings, the prompt's tokens, the window. */
  const prepare = async (
    request: ChatRequest,
    call: CallContext
  ): Promise<{ job: GenerateJob; promptTokens: number; pool: LocalWorkerPool }> => {
    if (pool === null) throw localUnavailable('The local model provider is not started.')
    const modelId = `${settings.id}/${request.model}`
    const model = modelFor('chat-completions', request.model)
    const read = readLocalChatRequest(request, { modelId, defaults: model.samplingDefaults })
    const inputIds = await pool.prepare({ model: model.name, messages: read.messages }, call.signal)
    const promptTokens = inputIds.length
    const window = model.contextWindow
    if (promptTokens + (read.maxTokens ?? 1) > window) {
      const asked =
        read.maxTokens === null
          ? `the messages take ${promptTokens} tokens, leaving no room for an answer`
          : `you requested ${promptTokens + read.maxTokens} tokens (${promptTokens} in the messages, ${read.maxTokens} in max_tokens)`
      throw localInvalidRequest(
        `The context window of \`${modelId}\` is ${window} tokens; ${asked}. Shorten the messages or lower max_tokens.`,
        'messages',
        'context_length_exceeded'
      )
    }
    const job: GenerateJob = {
      model: model.name,
      inputIds,
      maxNewTokens: read.maxTokens ?? window - promptTokens,
      sampling: {
        temperature: read.temperature,
        topP: read.topP,
        topK: read.topK,
        seed: read.seed ?? randomSeed(),
      },
      stop: read.stop,
    }
    return { job, promptTokens, pool }
  }

  return {
    id: settings.id,
    forwards: [],

    async start() {
      const startedAt = performance.now()
      const found = findLocalModels({
        directory: settings.directory,
        names: settings.models,
        dtype: settings.dtype,
      })
      const started = createLocalWorkerPool({
        workers: settings.workers,
        workerData: {
          models: found.map((model) => ({
            name: model.name,
            folder: model.folder,
            dtype: settings.dtype,
            kind: model.kind,
            pooling: model.embedding?.pooling,
          })),
          intraOpNumThreads: settings.intraOpNumThreads,
          maxBatch: settings.maxBatch,
        },
        spawn: settings.spawn,
        log,
      })
      await started.start()
      models = new Map(found.map((model) => [model.name, model]))
      pool = started
      log.info(
        {
          provider: settings.id,
          models: found.map(({ name, version, folder, kind }) => ({ name, kind, version, folder })),
          dtype: settings.dtype,
          workers: settings.workers,
          intraOpNumThreads: settings.intraOpNumThreads,
          maxBatch: settings.maxBatch,
          loadMs: Math.round(performance.now() - startedAt),
        },
        'local models loaded'
      )
    },

    async chat(request, call) {
      const { job, promptTokens, pool: workers } = await prepare(request, call)
      const created = Math.floor(now() / 1000)
      return new Promise<ChatResult>((resolve, reject) => {
        const pieces: string[] = []
        workers.generate(job, {
          signal: call.signal,
          handlers: {
            onStart: () => {},
            onText: (text) => pieces.push(text),
            onEnd: (end) => {
              const text = pieces.join('')
              resolve({
                id: randomId(),
                model: request.model,
                created,
                choices: [
                  {
                    index: 0,
                    content: text === '' ? [] : [{ type: 'text', text }],
                    finishReason: finishReasonOf(end),
                  },
                ],
                usage: usageOf(promptTokens, end.outputTokens),
              })
            },
            onError: reject,
          },
        })
      })
    },

    async streamChat(request, call) {
      const { job, promptTokens, pool: workers } = await prepare(request, call)
      const created = Math.floor(now() / 1000)
      let controller!: ReadableStreamDefaultController<ChatChunk>
      const stream = new ReadableStream<ChatChunk>({
        start: (streamController) => {
          controller = streamController
        },
        cancel: () => {
          held = ''
          generation.cancel()
        },
      })
      // Pieces that arrive in the same turn of the event loop (the worker ran ahead while the loop was busy) go out
      // as one chunk: a backlog costs one write, not one per token, and an idle loop sends each piece at once.
      let held = ''
      const release = (): void => {
        if (held === '') return
        controller.enqueue({ type: 'text-delta', choiceIndex: 0, delta: held })
        held = ''
      }
      const handlers: GenerationHandlers = {
        onStart: () =>
          controller.enqueue({
            type: 'start',
            id: randomId(),
            model: request.model,
            created,
            usage: usageOf(promptTokens, null),
          }),
        onText: (text) => {
          if (held === '') setImmediate(release)
          held += text
        },
        onEnd: (end) => {
          release()
          controller.enqueue({ type: 'finish', choiceIndex: 0, finishReason: finishReasonOf(end) })
          controller.enqueue({ type: 'usage', usage: usageOf(promptTokens, end.outputTokens) })
          controller.close()
        },
        onError: (error) => {
          release()
          controller.error(error)
        },
      }
      const generation = workers.generate(job, { signal: call.signal, handlers })
      return stream
    },

    cannotServe(operation, name) {
      const model = models.get(name)
      return model === undefined ? null : refusal(operation, model)
    },

    async embed(request: EmbedRequest, call: CallContext): Promise<EmbedResult> {
      if (pool === null) throw localUnavailable('The local model provider is not started.')
      const model = modelFor('embeddings', request.model)
      const modelId = `${settings.id}/${model.name}`
      const { dimensions, maxInputTokens } = model.embedding!
      if (request.dimensions !== undefined && request.dimensions !== dimensions)
        throw localInvalidRequest(
          `\`${modelId}\` gives ${dimensions}-dimensional embeddings and cannot shorten them: leave out dimensions, or send ${dimensions}.`,
          'dimensions'
        )
      const count = request.inputs.length
      for (const [index, input] of request.inputs.entries()) {
        if (typeof input === 'string') continue
        const foreign = foreignTokenId(input, model.vocabSize)
        if (foreign !== null)
          throw localInvalidRequest(
            `${inputName(index, count)} holds token id ${foreign}, which \`${modelId}\` does not have (its ids run from 0 to ${model.vocabSize - 1}).`,
            'input'
          )
      }
      const outcome = await pool.embed(
        { model: model.name, inputs: request.inputs, maxInputTokens },
        call.signal
      )
      if (outcome.kind === 'refused') {
        const name = inputName(outcome.index, count)
        if (outcome.tokens === 0)
          throw localInvalidRequest(`${name} is empty: it has no token to embed.`, 'input')
        throw localInvalidRequest(
          `${name} has ${outcome.tokens} tokens; \`${modelId}\` takes at most ${maxInputTokens} tokens per input. Shorten it, or split it into several inputs.`,
          'input',
          'context_length_exceeded'
        )
      }
      const { vectors, tokens } = outcome
      if (vectors.length !== count * dimensions)
        throw localEmbeddingFailed(
          `${model.folder}: the graph gave ${vectors.length / count} values per input, config.json says ${dimensions}`
        )
      const embeddings = Array.from({ length: count }, (_, index) =>
        vectors.subarray(index * dimensions, (index + 1) * dimensions)
      )
      const total = tokens.reduce((sum, value) => sum + value, 0)
      return { model: request.model, embeddings, usage: usageOf(total, 0) }
    },

    async listModels(): Promise<ModelInfo[]> {
      return [...models.values()].map((model) => ({
        id: model.name,
        created: model.modifiedAt,
        displayName:
          model.version === null ? model.name : `${model.name} (version ${model.version})`,
      }))
    },

    async close() {
      await pool?.close()
    },
  }
}
