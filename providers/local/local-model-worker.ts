/**
 * A worker thread that runs local models (`local-worker-pool.ts` starts them). onnxruntime-node creates sessions and
 * runs them synchronously, so a forward pass here holds this thread only, never the gateway's event loop. Each worker
 * loads every model once, with remote loading switched off: nothing is ever fetched from a model hub. It tokenizes
 * prompts with the model's chat template when asked (between the steps of a generation it is running) and runs
 * generations (`run-generation.ts`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { AutoModelForCausalLM, AutoTokenizer, env, LogLevel } from '@huggingface/transformers'
import type { FromWorker, LocalWorkerData, ToWorker } from './local-worker-messages.ts'
import { runGeneration, type LoadedModel } from './run-generation.ts'

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
const send = (message: FromWorker): void => port.postMessage(message)

const idsOf = (value: unknown): number[] => {
  if (typeof value === 'number') return [value]
  return Array.isArray(value) ? value.filter((id): id is number => typeof id === 'number') : []
}

const load = async (spec: LocalWorkerData['models'][number]): Promise<LoadedModel> => {
  try {
    const tokenizer = await AutoTokenizer.from_pretrained(spec.folder, { local_files_only: true })
    // Newer exports keep the template in its own file, which Transformers.js's tokenizers do not read.
    const templateFile = join(spec.folder, 'chat_template.jinja')
    if (tokenizer.chat_template === null && existsSync(templateFile))
      tokenizer.chat_template = readFileSync(templateFile, 'utf8')
    const model = await AutoModelForCausalLM.from_pretrained(spec.folder, {
      dtype: spec.dtype,
      local_files_only: true,
      session_options: {
        intraOpNumThreads: data.intraOpNumThreads,
        interOpNumThreads: 1,
        // Errors only: onnxruntime's warnings would reach the gateway's stdout, outside its JSON log lines.
        logSeverityLevel: 3,
      },
    })
    const generation = model.generation_config as { eos_token_id?: unknown } | null
    const config = model.config as { eos_token_id?: unknown }
    const endTokens = new Set(idsOf(generation?.eos_token_id ?? config.eos_token_id))
    return { tokenizer, model, endTokens }
  } catch (error) {
    throw new Error(`cannot load ${spec.folder} (${spec.dtype}): ${(error as Error).message}`)
  }
}

const models = new Map<string, LoadedModel>()
/** Generations running, by id: how to cancel each, and its end. */
const running = new Map<number, { cancel: () => void; done: Promise<void> }>()

/**
 * Ends the thread from the inside: generations stopped at their next step, sessions released, the port closed, after
 * which nothing holds the thread. `Worker.terminate()` from outside would stop the thread wherever it is, and while
 * it is inside onnxruntime that aborts the whole process (a C++ exception thrown as the thread's environment goes).
 */
const close = async (): Promise<void> => {
  for (const generation of running.values()) generation.cancel()
  await Promise.all([...running.values()].map((generation) => generation.done))
  await Promise.all([...models.values()].map((loaded) => loaded.model.dispose()))
  port.close()
}

const onMessage = (message: ToWorker): void => {
  switch (message.type) {
    case 'prepare': {
      const loaded = models.get(message.model)!
      try {
        const inputIds = loaded.tokenizer.apply_chat_template(message.messages, {
          add_generation_prompt: true,
          tokenize: true,
          return_tensor: false,
          return_dict: false,
        }) as number[]
        send({ type: 'prepared', id: message.id, inputIds })
      } catch (error) {
        send({ type: 'prepare-failed', id: message.id, message: (error as Error).message })
      }
      return
    }
    case 'generate': {
      let cancel = (): void => {}
      const done = runGeneration({
        id: message.id,
        loaded: models.get(message.model)!,
        job: message,
        send,
        onCancel: (cancelGeneration) => {
          cancel = cancelGeneration
        },
      }).finally(() => running.delete(message.id))
      running.set(message.id, { cancel: () => cancel(), done })
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
  await Promise.all([...models.values()].map((loaded) => loaded.model.dispose()))
  port.close()
}
