/**
 * A worker thread that runs local models (`local-worker-pool.ts` starts them). onnxruntime-node creates sessions and
 * runs them synchronously, so a forward pass here holds this thread only, never the gateway's event loop. Each worker
 * loads every model once, with remote loading switched off: nothing is ever fetched from a model hub; a chat model as
 * a causal LM, an embedding model as a base model, and each graph is checked to give what its kind needs (`logits`,
 * `last_hidden_state`). It tokenizes prompts with the model's chat template when asked (between the steps of the
 * generations it is running), runs generations (batched: `create-generation-batcher.ts`; one at a time for a model
 * whose cache cannot be batched: `run-generation.ts`), and embeds inputs (`run-embeddings.ts`, also between steps).
 */
import { existsSync, readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import {
  AutoModel,
  AutoModelForCausalLM,
  AutoTokenizer,
  env,
  LogLevel,
} from '@huggingface/transformers'
import type { PreTrainedModel } from '@huggingface/transformers'
import { createGenerationBatcher, type GenerationBatcher } from './create-generation-batcher.ts'
import type { FromWorker, LocalWorkerData, ToWorker } from './local-worker-messages.ts'
import { batchableCache } from './regroup-kv-cache.ts'
import { runEmbeddings, type LoadedEmbeddingModel } from './run-embeddings.ts'
import type { LoadedModel } from './loaded-model.ts'
import { runGeneration } from './run-generation.ts'

try {
  setPriority(10)
} catch {
  // Not allowed here (some sandboxes): the thread keeps the process's priority.
}

env.allowRemoteModels = false
env.useFSCache = false
env.useBrowserCache = false
env.logLevel = LogLevel.ERROR
env.fetch = () => Promise.reject(new Error('the local model provider never downloads anything'))

const port = parentPort!
const data = workerData as LocalWorkerData
const send = (message: FromWorker, transfer?: ArrayBuffer[]): void =>
  port.postMessage(message, transfer)

const idsOf = (value: unknown): number[] => {
  if (typeof value === 'number') return [value]
  return Array.isArray(value) ? value.filter((id): id is number => typeof id === 'number') : []
}

type ModelSpec = LocalWorkerData['models'][number]

/** What each kind's graph must give, by output name (Optimum's export names). */
const requiredOutput = { chat: 'logits', embedding: 'last_hidden_state' } as const

/** A graph whose outputs are not what its `config.json` says it is (an embedding export named as a causal LM...). */
const checkOutputs = (spec: ModelSpec, model: PreTrainedModel): void => {
  const outputs =
    (model.sessions.model as { outputNames?: string[] } | undefined)?.outputNames ?? []
  const required = requiredOutput[spec.kind]
  if (!outputs.includes(required))
    throw new Error(
      `config.json makes it ${spec.kind === 'chat' ? 'a chat model (a causal LM)' : 'an embedding model (a base model)'}, but its graph has no ${required} output (outputs: ${outputs.join(', ')})`
    )
}

const sessionOptions = (): Record<string, unknown> => ({
  intraOpNumThreads: data.intraOpNumThreads,
  interOpNumThreads: 1,
  // Errors only: onnxruntime's warnings would reach the gateway's stdout, outside its JSON log lines.
  logSeverityLevel: 3,
})

const loadChat = async (spec: ModelSpec): Promise<LoadedModel> => {
  const tokenizer = await AutoTokenizer.from_pretrained(spec.folder, { local_files_only: true })
  // Newer exports keep the template in its own file, which Transformers.js's tokenizers do not read.
  const templateFile = join(spec.folder, 'chat_template.jinja')
  if (tokenizer.chat_template === null && existsSync(templateFile))
    tokenizer.chat_template = readFileSync(templateFile, 'utf8')
  const model = await AutoModelForCausalLM.from_pretrained(spec.folder, {
    dtype: spec.dtype,
    local_files_only: true,
    session_options: sessionOptions(),
  })
  checkOutputs(spec, model)
  const generation = model.generation_config as { eos_token_id?: unknown } | null
  const config = model.config as { eos_token_id?: unknown }
  const endTokens = new Set(idsOf(generation?.eos_token_id ?? config.eos_token_id))
  return { tokenizer, model, endTokens }
}

const loadEmbedding = async (spec: ModelSpec): Promise<LoadedEmbeddingModel> => {
  const tokenizer = await AutoTokenizer.from_pretrained(spec.folder, { local_files_only: true })
  const model = await AutoModel.from_pretrained(spec.folder, {
    dtype: spec.dtype,
    local_files_only: true,
    session_options: sessionOptions(),
  })
  checkOutputs(spec, model)
  const config = model.config as { pad_token_id?: unknown }
  const padTokenId =
    tokenizer.pad_token_id ?? (typeof config.pad_token_id === 'number' ? config.pad_token_id : 0)
  return { tokenizer, model, pooling: spec.pooling ?? 'mean', padTokenId }
}

type Loaded =
  | { kind: 'chat'; chat: LoadedModel; batcher: GenerationBatcher | null }
  | { kind: 'embedding'; embedding: LoadedEmbeddingModel }

/**
 * A chat model's generations share their forward passes when its cache is the standard one (`batchableCache`) and
 * batches are allowed; otherwise each runs on its own through Transformers.js's `generate` (`run-generation.ts`).
 */
const batcherFor = (chat: LoadedModel): GenerationBatcher | null => {
  const session = chat.model.sessions.model as
    { inputMetadata?: { name: string; shape?: (number | string)[] }[] } | undefined
  if (data.maxBatch < 2 || !batchableCache(session?.inputMetadata ?? [])) return null
  return createGenerationBatcher({
    loaded: chat,
    maxBatch: data.maxBatch,
    send,
    intervalMs: data.streamIntervalMs,
  })
}

const load = async (spec: ModelSpec): Promise<Loaded> => {
  try {
    return spec.kind === 'chat'
      ? await loadChat(spec).then((chat) => ({
          kind: 'chat' as const,
          chat,
          batcher: batcherFor(chat),
        }))
      : { kind: 'embedding', embedding: await loadEmbedding(spec) }
  } catch (error) {
    throw new Error(`cannot load ${spec.folder} (${spec.dtype}): ${(error as Error).message}`)
  }
}

const modelOf = (loaded: Loaded): PreTrainedModel =>
  loaded.kind === 'chat' ? loaded.chat.model : loaded.embedding.model

const models = new Map<string, Loaded>()
/** Generations and embeddings running, by id: how to cancel each, and its end. */
const running = new Map<number, { cancel: () => void; done: Promise<void> }>()

/** The model a message names, of the kind it needs (the main thread sends each job to a model of its kind). */
const chatModel = (name: string): Extract<Loaded, { kind: 'chat' }> => {
  const loaded = models.get(name)!
  if (loaded.kind !== 'chat') throw new Error(`${name} is not a chat model`)
  return loaded
}

const embeddingModel = (name: string): LoadedEmbeddingModel => {
  const loaded = models.get(name)!
  if (loaded.kind !== 'embedding') throw new Error(`${name} is not an embedding model`)
  return loaded.embedding
}

/**
 * Ends the thread from the inside: generations stopped at their next step, sessions released, the port closed, after
 * which nothing holds the thread. `Worker.terminate()` from outside would stop the thread wherever it is, and while
 * it is inside onnxruntime that aborts the whole process (a C++ exception thrown as the thread's environment goes).
 */
const close = async (): Promise<void> => {
  for (const generation of running.values()) generation.cancel()
  await Promise.all([...running.values()].map((generation) => generation.done))
  await Promise.all([...models.values()].map((loaded) => modelOf(loaded).dispose()))
  port.close()
}

const onMessage = (message: ToWorker): void => {
  switch (message.type) {
    case 'prepare': {
      try {
        const inputIds = chatModel(message.model).chat.tokenizer.apply_chat_template(
          message.messages,
          {
            add_generation_prompt: true,
            tokenize: true,
            return_tensor: false,
            return_dict: false,
          }
        ) as number[]
        send({ type: 'prepared', id: message.id, inputIds })
      } catch (error) {
        send({ type: 'prepare-failed', id: message.id, message: (error as Error).message })
      }
      return
    }
    case 'generate': {
      const { chat, batcher } = chatModel(message.model)
      if (batcher !== null) {
        const generation = batcher.add(message.id, message)
        const done = generation.done.finally(() => running.delete(message.id))
        running.set(message.id, { cancel: generation.cancel, done })
        return
      }
      let cancel = (): void => {}
      const done = runGeneration({
        id: message.id,
        loaded: chat,
        job: message,
        send,
        intervalMs: data.streamIntervalMs,
        onCancel: (cancelGeneration) => {
          cancel = cancelGeneration
        },
      }).finally(() => running.delete(message.id))
      running.set(message.id, { cancel: () => cancel(), done })
      return
    }
    case 'embed': {
      let cancelled = false
      const done = runEmbeddings({
        id: message.id,
        loaded: embeddingModel(message.model),
        job: message,
        send,
        cancelled: () => cancelled,
      }).finally(() => running.delete(message.id))
      running.set(message.id, { cancel: () => (cancelled = true), done })
      return
    }
    case 'cancel':
      running.get(message.id)?.cancel()
      return
    case 'close':
      void close()
      return
  }
}

try {
  for (const spec of data.models) models.set(spec.name, await load(spec))
  port.on('message', onMessage)
  send({ type: 'ready' })
} catch (error) {
  // The pool learns why, and the thread ends by itself: nothing is listening, the port closes.
  send({ type: 'load-failed', message: (error as Error).message })
  await Promise.all([...models.values()].map((loaded) => modelOf(loaded).dispose()))
  port.close()
}
