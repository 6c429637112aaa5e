/**
 * Canonical chunks → an OpenAI chat completion event stream, byte for byte in the real API's grammar (wire-notes §1;
 * https://platform.openai.com/docs/api-reference/chat-streaming/streaming): one `id`/`created` on every chunk, a first
 * chunk with `role`, `logprobs: null` and `finish_reason: null` until the end, a refusal in `delta.refusal`, tool
 * calls as first fragment (id, type, name, empty arguments) then argument fragments, `delta: {}` with the finish
 * reason, `usage: null` on every chunk plus
 * a trailing `choices: []` usage chunk when the client asked for `include_usage`, then `data: [DONE]`.
 *
 * If the source fails mid-way the stream ends with `data: {"error":{...}}` and no `[DONE]`: openai-node raises an
 * `APIError` on it (https://github.com/openai/openai-node/blob/master/src/core/streaming.ts), never retried.
 */
import { emptyUsage, type ChatChunk, type Usage } from '../../../providers/spec/chat-types.ts'
import { isProviderError } from '../../../providers/spec/provider-error.ts'
import { GatewayError } from '../../core/errors.ts'
import { toOpenAICompletionId, toOpenAIFinishReason } from './convert-to-openai-response.ts'
import { openAIUsage } from './openai-usage.ts'

/** The `error` object of an OpenAI error body: `param` and `code` are nullable but always present. */
export type OpenAIErrorObject = {
  message: string
  type: string
  param?: string | null
  code?: string | null
}

export type EncodeOpenAISseOptions = {
  includeUsage: boolean
  /** The model name to show the client; default: the one the upstream reported. */
  model?: string
  /** How a mid-stream failure is worded; default: the error's own safe message, typed by status. */
  describeError?: (error: unknown) => OpenAIErrorObject
}

const encoder = new TextEncoder()

const frame = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`

/** The in-band error event that ends a failed OpenAI stream (also appended to forwarded streams that fail). */
export const encodeOpenAIErrorEvent = (error: OpenAIErrorObject): Uint8Array =>
  encoder.encode(
    frame({
      error: {
        message: error.message,
        type: error.type,
        param: error.param ?? null,
        code: error.code ?? null,
      },
    })
  )

const typeForStatus = (status: number): string => {
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

const describeError = (error: unknown): OpenAIErrorObject => {
  if (isProviderError(error)) {
    return {
      message: error.message,
      type: error.type ?? typeForStatus(error.status),
      param: error.param,
      code: error.code,
    }
  }
  if (error instanceof GatewayError) {
    return {
      message: error.message,
      type: typeForStatus(error.status),
      param: error.param,
      code: error.openaiCode,
    }
  }
  return {
    message: 'The gateway hit an internal error while streaming the answer.',
    type: 'server_error',
    param: null,
    code: null,
  }
}

type Envelope = { id: string; created: number; model: string }

type EncoderState = {
  envelope: Envelope | null
  usage: Usage | null
  /** Choices whose first chunk (with `role`) was sent. */
  choices: Set<number>
  /** `choice:index` of tool calls whose first fragment was sent. */
  toolCalls: Set<string>
}

const randomId = (): string => crypto.randomUUID().replaceAll('-', '')

export const encodeOpenAISse = (
  chunks: ReadableStream<ChatChunk>,
  options: EncodeOpenAISseOptions
): ReadableStream<Uint8Array> => {
  const reader = chunks.getReader()
  const describe = options.describeError ?? describeError
  const state: EncoderState = {
    envelope: null,
    usage: null,
    choices: new Set(),
    toolCalls: new Set(),
  }

  /** Adapters always send `start` first; should one not, the stream still gets one consistent id. */
  const envelope = (): Envelope =>
    (state.envelope ??= {
      id: `chatcmpl-${randomId()}`,
      created: Math.floor(Date.now() / 1000),
      model: options.model ?? '',
    })

  const chunk = (choices: unknown[], usage?: Usage): string => {
    const { id, created, model } = envelope()
    const body: Record<string, unknown> = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices,
    }
    if (options.includeUsage) body.usage = usage ? openAIUsage(usage) : null
    return frame(body)
  }

  const choice = (
    index: number,
    delta: Record<string, unknown>,
    finishReason: string | null = null
  ): string => chunk([{ index, delta, logprobs: null, finish_reason: finishReason }])

  /** The first chunk of a choice carries its role, as the real API's does (the SDK's helper requires it). */
  const open = (index: number, frames: string[]): void => {
    if (state.choices.has(index)) return
    state.choices.add(index)
    frames.push(choice(index, { role: 'assistant', content: '', refusal: null }))
  }

  const encode = (source: ChatChunk): string[] => {
    const frames: string[] = []
    switch (source.type) {
      case 'start':
        state.envelope ??= {
          id: toOpenAICompletionId(source.id),
          created: source.created,
          model: options.model ?? source.model,
        }
        if (source.usage) state.usage = source.usage
        open(0, frames)
        break
      case 'text-delta':
        open(source.choiceIndex, frames)
        if (source.delta !== '') frames.push(choice(source.choiceIndex, { content: source.delta }))
        break
      case 'refusal-delta':
        open(source.choiceIndex, frames)
        if (source.delta !== '') frames.push(choice(source.choiceIndex, { refusal: source.delta }))
        break
      case 'reasoning-delta':
        // Chat Completions has no reasoning field: the real API never streams reasoning text.
        break
      case 'tool-call-delta': {
        open(source.choiceIndex, frames)
        const key = `${source.choiceIndex}:${source.index}`
        if (!state.toolCalls.has(key)) {
          state.toolCalls.add(key)
          const first = {
            index: source.index,
            id: source.id ?? `call_${randomId()}`,
            type: 'function',
            function: { name: source.name ?? '', arguments: '' },
          }
          frames.push(choice(source.choiceIndex, { tool_calls: [first] }))
        }
        if (source.argumentsDelta !== '') {
          frames.push(
            choice(source.choiceIndex, {
              tool_calls: [{ index: source.index, function: { arguments: source.argumentsDelta } }],
            })
          )
        }
        break
      }
      case 'finish':
        open(source.choiceIndex, frames)
        frames.push(choice(source.choiceIndex, {}, toOpenAIFinishReason(source.finishReason)))
        break
      case 'usage':
        state.usage = source.usage
        break
    }
    return frames
  }

  const trailer = (): string => {
    if (!state.envelope) return 'data: [DONE]\n\n'
    return (options.includeUsage ? chunk([], state.usage ?? emptyUsage()) : '') + 'data: [DONE]\n\n'
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let result: ReadableStreamReadResult<ChatChunk>
        try {
          result = await reader.read()
        } catch (error) {
          controller.enqueue(encodeOpenAIErrorEvent(describe(error)))
          controller.close()
          return
        }
        if (result.done) {
          controller.enqueue(encoder.encode(trailer()))
          controller.close()
          return
        }
        const frames = encode(result.value)
        if (frames.length > 0) {
          controller.enqueue(encoder.encode(frames.join('')))
          return
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
