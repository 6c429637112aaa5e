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
 *
 * Models may have versions (`<name>/<version>/`): which one serves, and the switch to another without dropping a
 * call, is `local-model-host.ts`'s (`modelVersions`). A call runs to its end on the version serving when it arrived.
 * Each call that reached a model version is reported once it ends (`report`: version, times, tokens, finish reason).
 */
import type { ChatChunk, ChatRequest, ChatResult, FinishReason, Usage } from '../spec/chat-types.ts'
import type { EmbedRequest, EmbedResult } from '../spec/embedding-types.ts'
import type { InferenceFinishReason, InferenceReporter } from '../spec/inference-report.ts'
import { isGenerative, type Operation } from '../spec/operation.ts'
import type { CallContext, ModelInfo, ProviderAdapter } from '../spec/provider-adapter.ts'
import type { LocalModel } from './find-local-models.ts'
import { embedWithLocalModel } from './embed-with-local-model.ts'
import { localInvalidRequest, localModelNotFound } from './local-errors.ts'
import { createLocalModelHost } from './local-model-host.ts'
import type { LocalModelSet } from './local-model-set.ts'
import type { GenerateJob } from './local-worker-messages.ts'
import {
  silentLocalLog,
  type GenerationEnd,
  type GenerationHandlers,
  type LocalProviderLog,
  type LocalWorkerPoolOptions,
} from './local-worker-pool.ts'
import { openLocalCallRecord, type LocalCallRecord } from './open-local-call-record.ts'
import { readLocalChatRequest } from './read-local-chat-request.ts'
import type { LocalModelDtype } from './read-model-folder.ts'
import { unsentReasoningParams } from '../shared/unsent-reasoning-params.ts'
import { unsentOpenAISettings } from '../shared/unsent-openai-settings.ts'

export type LocalAdapterSettings = {
  /** Provider instance id from config (`local`): the prefix of its models' names. */
  id: string
  /** Absolute path of the folder holding the model folders. */
  directory: string
  /** The model folders to serve; `null`: every one under `directory`. */
  models: readonly string[] | null
  /** The version folder to serve of each model named (default: its highest); an activation overrides it. */
  versions?: Readonly<Record<string, string>>
  workers: number
  intraOpNumThreads: number
  /** Generations one worker runs together (`LocalWorkerData.maxBatch`). */
  maxBatch: number
  /** The least time between two text messages of a generation (`LocalWorkerData.streamIntervalMs`; default 5). */
  streamIntervalMs?: number
  dtype: LocalModelDtype
  /** The weights of each model named here, when not `dtype`. */
  dtypes?: Readonly<Record<string, LocalModelDtype>>
  /** Epoch milliseconds, for `created`. Defaults to `Date.now`. */
  now?: () => number
  /** How worker threads are started (`LocalWorkerPoolOptions.spawn`). */
  spawn?: LocalWorkerPoolOptions['spawn']
  /** The models loaded, version switches, worker crashes and replacements (default: nowhere). */
  log?: LocalProviderLog
  /** Told of every call that reached a model version, once it ends (default: nobody). */
  report?: InferenceReporter
}

const inferenceFinishReason = {
  length: 'length',
  'stop-sequence': 'stop-sequence',
  'end-token': 'end-token',
} as const satisfies Record<GenerationEnd['reason'], InferenceFinishReason>

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

export const createLocalAdapter = (settings: LocalAdapterSettings): ProviderAdapter => {
  const now = settings.now ?? Date.now
  const log = settings.log ?? silentLocalLog
  const host = createLocalModelHost({
    id: settings.id,
    directory: settings.directory,
    models: settings.models,
    versions: settings.versions ?? {},
    workers: settings.workers,
    intraOpNumThreads: settings.intraOpNumThreads,
    maxBatch: settings.maxBatch,
    streamIntervalMs: settings.streamIntervalMs ?? 5,
    dtype: settings.dtype,
    dtypes: settings.dtypes ?? {},
    spawn: settings.spawn,
    log,
  })

  const namesOf = (set: LocalModelSet, kind: LocalModel['kind']): string => {
    const names = [...set.models.values()]
      .filter((model) => model.kind === kind)
      .map((model) => `${settings.id}/${model.name}`)
    return names.length === 0 ? 'none' : names.join(', ')
  }

  /** Why `model` cannot serve `operation` (chat on an embedding model, embeddings on a chat model), or `null`. */
  const refusal = (set: LocalModelSet, operation: Operation, model: LocalModel): string | null => {
    const modelId = `${settings.id}/${model.name}`
    if (operation === 'embeddings' && model.kind === 'chat')
      return `\`${modelId}\` is a chat model: it cannot create embeddings. This provider's embedding models: ${namesOf(set, 'embedding')}.`
    if (isGenerative(operation) && model.kind === 'embedding')
      return `\`${modelId}\` is an embedding model: it serves /v1/embeddings, not chat. This provider's chat models: ${namesOf(set, 'chat')}.`
    return null
  }

  /**
   * The model a call names on the set serving now, of a kind that can serve the operation, and the call's record,
   * which holds the set until the call ends; throws a 404 or a 400 otherwise.
   */
  const open = (
    operation: Operation,
    name: string,
    call: CallContext
  ): { set: LocalModelSet; model: LocalModel; record: LocalCallRecord } => {
    const set = host.serving()
    const model = set.models.get(name)
    if (model === undefined)
      throw localModelNotFound(`${settings.id}/${name}`, [...set.models.keys()])
    const refused = refusal(set, operation, model)
    if (refused !== null) throw localInvalidRequest(refused, 'model')
    const record = openLocalCallRecord({
      report: settings.report,
      leave: set.enter(),
      provider: settings.id,
      model: model.name,
      modelVersion: model.version,
      requestId: call.requestId,
      kind: operation === 'embeddings' ? 'embeddings' : 'generation',
    })
    return { set, model, record }
  }

  /** Everything before the generation: the model, the request's settings, the prompt's tokens, the window. */
  const prepare = async (
    request: ChatRequest,
    call: CallContext
  ): Promise<{
    job: GenerateJob
    promptTokens: number
    set: LocalModelSet
    record: LocalCallRecord
  }> => {
    const modelId = `${settings.id}/${request.model}`
    // The local models have no reasoning setting: what asked for reasoning is named as left out.
    const omitted = [...unsentOpenAISettings(request), ...unsentReasoningParams(request.reasoning)]
    if (omitted.length > 0) call.omittedParams = omitted
    const { set, model, record } = open('chat-completions', request.model, call)
    try {
      const read = readLocalChatRequest(request, { modelId, defaults: model.samplingDefaults })
      const inputIds = await set.pool.prepare(
        { model: model.name, messages: read.messages },
        call.signal
      )
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
      return { job, promptTokens, set, record }
    } catch (error) {
      record.failed(error)
      throw error
    }
  }

  return {
    id: settings.id,
    forwards: [],

    async start() {
      const startedAt = performance.now()
      await host.start()
      const models = [...host.serving().models.values()]
      log.info(
        {
          provider: settings.id,
          models: models.map(({ name, version, folder, kind, dtype }) => ({
            name,
            kind,
            version,
            folder,
            dtype,
          })),
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
      const { job, promptTokens, set, record } = await prepare(request, call)
      const created = Math.floor(now() / 1000)
      return new Promise<ChatResult>((resolve, reject) => {
        const pieces: string[] = []
        set.pool.generate(job, {
          signal: call.signal,
          handlers: {
            onStart: () => record.started(),
            onText: (text) => pieces.push(text),
            onEnd: (end) => {
              record.completed({
                inputTokens: promptTokens,
                outputTokens: end.outputTokens,
                finishReason: inferenceFinishReason[end.reason],
              })
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
            onError: (error) => {
              record.failed(error, promptTokens)
              reject(error)
            },
          },
        })
      })
    },

    async streamChat(request, call) {
      const { job, promptTokens, set, record } = await prepare(request, call)
      const created = Math.floor(now() / 1000)
      let controller!: ReadableStreamDefaultController<ChatChunk>
      const stream = new ReadableStream<ChatChunk>({
        start: (streamController) => {
          controller = streamController
        },
        cancel: () => {
          held = ''
          generation.cancel()
          record.cancelled()
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
        onStart: () => {
          record.started()
          controller.enqueue({
            type: 'start',
            id: randomId(),
            model: request.model,
            created,
            usage: usageOf(promptTokens, null),
          })
        },
        onText: (text) => {
          if (held === '') setImmediate(release)
          held += text
        },
        onEnd: (end) => {
          record.completed({
            inputTokens: promptTokens,
            outputTokens: end.outputTokens,
            finishReason: inferenceFinishReason[end.reason],
          })
          release()
          controller.enqueue({ type: 'finish', choiceIndex: 0, finishReason: finishReasonOf(end) })
          controller.enqueue({ type: 'usage', usage: usageOf(promptTokens, end.outputTokens) })
          controller.close()
        },
        onError: (error) => {
          record.failed(error, promptTokens)
          release()
          controller.error(error)
        },
      }
      const generation = set.pool.generate(job, { signal: call.signal, handlers })
      return stream
    },

    cannotServe(operation, name) {
      const set = host.current()
      const model = set?.models.get(name)
      return set === null || model === undefined ? null : refusal(set, operation, model)
    },

    async embed(request: EmbedRequest, call: CallContext): Promise<EmbedResult> {
      const { set, model, record } = open('embeddings', request.model, call)
      try {
        const { embeddings, tokens } = await embedWithLocalModel({
          pool: set.pool,
          model,
          modelId: `${settings.id}/${model.name}`,
          request,
          signal: call.signal,
        })
        record.completed({ inputTokens: tokens, outputTokens: 0, finishReason: null })
        return { model: request.model, embeddings, usage: usageOf(tokens, 0) }
      } catch (error) {
        record.failed(error)
        throw error
      }
    },

    async listModels(): Promise<ModelInfo[]> {
      const set = host.current()
      return [...(set?.models.values() ?? [])].map((model) => ({
        id: model.name,
        created: model.modifiedAt,
        displayName:
          model.version === null ? model.name : `${model.name} (version ${model.version})`,
      }))
    },

    modelVersions: host.versions,

    async close() {
      await host.close()
    },
  }
}
