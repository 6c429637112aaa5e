/**
 * The failures of the local provider, as the `ProviderError`s the core reads: what the client must change is a 4xx
 * naming the field (never retried, never a reason to fall back), what broke in the gateway's own worker is a 5xx the
 * route may fall back from.
 */
import { ProviderError } from '../spec/provider-error.ts'

/** A request the local model cannot serve as sent: a 400 naming the field. */
export const localInvalidRequest = (
  message: string,
  param: string | null,
  code: string | null = null
): ProviderError =>
  new ProviderError({
    kind: 'unsupported',
    status: 400,
    message,
    param,
    code,
    type: 'invalid_request_error',
  })

export const localModelNotFound = (modelId: string, served: readonly string[]): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: 404,
    message: `The model \`${modelId}\` does not exist: this local provider serves ${served.join(', ')}.`,
    code: 'model_not_found',
    param: 'model',
    type: 'invalid_request_error',
  })

/** An activation names a version folder the model does not have. */
export const localVersionNotFound = (
  modelId: string,
  version: string,
  available: readonly string[]
): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: 404,
    message: `\`${modelId}\` has no version ${version}: ${available.length === 0 ? 'its folder has no version folders' : `its versions are ${available.join(', ')}`}.`,
    code: 'model_version_not_found',
    param: 'version',
    type: 'invalid_request_error',
  })

/**
 * The worker thread running the call's generation exited (a crash in onnxruntime, memory exhausted). Not retried on
 * this provider: a request that crashes a worker would crash the replacement too; a route's next target is still
 * tried.
 */
export const localWorkerCrashed = (detail: string): ProviderError =>
  new ProviderError({
    kind: 'connection',
    status: 502,
    retryable: false,
    message: 'the worker thread running the model exited; a new one is starting',
    detail,
  })

/** onnxruntime failed during a generation; the worker is fine and goes on serving. */
export const localGenerationFailed = (detail: string): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: 500,
    retryable: false,
    message: 'the local model failed while generating',
    detail,
  })

/** onnxruntime failed during an embeddings request; the worker is fine and goes on serving. */
export const localEmbeddingFailed = (detail: string): ProviderError =>
  new ProviderError({
    kind: 'http',
    status: 500,
    retryable: false,
    message: 'the local model failed while embedding',
    detail,
  })

/** No worker can serve: the provider is shut down, or its workers fail to load the models again. */
export const localUnavailable = (message: string, detail?: string): ProviderError =>
  new ProviderError({ kind: 'http', status: 503, retryable: false, message, detail })

export const localAborted = (): ProviderError =>
  new ProviderError({ kind: 'aborted', status: 499, message: 'The client closed the request.' })
