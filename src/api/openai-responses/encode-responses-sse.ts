/**
 * Canonical chunks → the Responses API's event stream, in exactly the real API's grammar (wire-notes §9;
 * https://platform.openai.com/docs/api-reference/responses-streaming; `ResponseStreamEvent` in the OpenAPI document).
 * Every event has an `event:` line equal to its `type` and a `sequence_number` counting from 0:
 *
 * - `response.created` and `response.in_progress` (the `Response` in progress: `output: []`, no `usage`);
 * - per output item, one after the other (an item is done before the next is added):
 *   - message: `response.output_item.added` → `response.content_part.added` → `response.output_text.delta`… →
 *     `response.output_text.done` → `response.content_part.done` → `response.output_item.done`;
 *   - function call: `response.output_item.added` → `response.function_call_arguments.delta`… →
 *     `response.function_call_arguments.done` (always, with the whole arguments, also when no delta came) →
 *     `response.output_item.done`;
 *   - reasoning: `response.output_item.added` → `response.reasoning_summary_part.added` →
 *     `response.reasoning_summary_text.delta`… → `response.reasoning_summary_text.done` →
 *     `response.reasoning_summary_part.done` → `response.output_item.done` (no summary part when the thinking text is
 *     empty; the signature goes into the done item's `encrypted_content`);
 * - `response.completed`, or `response.incomplete` for a `length` or content-filter finish, carrying the whole
 *   `Response` (`convert-to-responses-response.ts` builds it: same items, `usage`, the echoed settings).
 *
 * Only choice 0 exists for the Responses API. An item closes when the next one starts or when the finish arrives; usage
 * may come after the finish, so the final event waits for the end of the source. A reasoning delta after a signature
 * starts a new reasoning item (a signature closes an Anthropic thinking block). A fragment for a function call that is
 * already done (the upstream interleaved two calls: no adapter does) still lands in that call's item in the final
 * `Response`.
 *
 * A source that fails ends the stream with an `error` event, then `response.failed` (the `Response` with `status:
 * "failed"`, its `error`, and the output so far), never a silent end. The `error` event carries the documented flat
 * fields (`code`, `message`, `param`) and the same error nested under `error`, as the live API sends it: openai-node
 * (6.x) raises an `APIError` only for a payload with an `error` key, and a client written against the reference reads
 * the flat fields. Codex and the Vercel AI SDK end the turn on `response.failed`.
 */
import {
  emptyUsage,
  type ChatChunk,
  type FinishReason,
  type Usage,
} from '../../../providers/spec/chat-types.ts'
import {
  buildResponsesResponse,
  createResponsesItemId,
  functionCallItem,
  messageItem,
  outputText,
  reasoningItem,
  responsesEcho,
  responsesOutcome,
  type ResponsesEcho,
  type ResponsesFunctionCallItem,
  type ResponsesItemStatus,
  type ResponsesMessageItem,
  type ResponsesOutputItem,
  type ResponsesReasoningItem,
  type ResponsesResponse,
  type ResponsesResponseFields,
  type ResponsesStatus,
} from './convert-to-responses-response.ts'
import type { ResponsesContext } from './responses-context.ts'

/** How a failure is told to the client: OpenAI's error object (`type` and `param` optional). */
export type ResponsesErrorDescription = {
  code: string | null
  message: string
  type?: string
  param?: string | null
}

export type EncodeResponsesSseOptions = {
  context: ResponsesContext
  describeError: (error: unknown) => ResponsesErrorDescription
}

const encoder = new TextEncoder()

/** One event: its `event:` line is its `type`. */
const frame = <Payload extends { type: string; sequence_number: number }>(
  payload: Payload
): string => `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`

const errorFrame = (error: ResponsesErrorDescription, sequenceNumber: number): string => {
  const param = error.param ?? null
  return frame({
    type: 'error',
    code: error.code,
    message: error.message,
    param,
    sequence_number: sequenceNumber,
    error: { type: error.type ?? 'server_error', code: error.code, message: error.message, param },
  })
}

/**
 * The `error` event alone, numbered `sequenceNumber`: for a forwarded Responses stream that breaks after its first
 * byte (the caller counts the events it forwarded).
 */
export const encodeResponsesErrorEvent = (
  error: ResponsesErrorDescription,
  sequenceNumber: number
): Uint8Array => encoder.encode(errorFrame(error, sequenceNumber))

/** The API's `ResponseErrorCode` values: a `Response`'s `error.code` is one of them, `server_error` for anything else. */
const responseErrorCodes = new Set([
  'server_error',
  'rate_limit_exceeded',
  'invalid_prompt',
  'data_residency_mismatch',
  'bio_policy',
  'vector_store_timeout',
  'invalid_image',
  'invalid_image_format',
  'invalid_base64_image',
  'invalid_image_url',
  'image_too_large',
  'image_too_small',
  'image_parse_error',
  'image_content_policy_violation',
  'invalid_image_mode',
  'image_file_too_large',
  'unsupported_image_media_type',
  'empty_image_file',
  'failed_to_download_image',
  'image_file_not_found',
])

type MessageState = {
  kind: 'message'
  outputIndex: number
  id: string
  text: string
  /** The start of every `response.output_text.delta` of this item, up to its `delta` value. */
  deltaHead: string
}

type ReasoningState = {
  kind: 'reasoning'
  outputIndex: number
  id: string
  text: string
  signature: string | undefined
  summaryOpen: boolean
  deltaHead: string
}

type FunctionCallState = {
  kind: 'function_call'
  outputIndex: number
  id: string
  callId: string
  name: string
  arguments: string
  deltaHead: string
}

type ItemState = MessageState | ReasoningState | FunctionCallState

type EncoderState = {
  /** What `onFinished` returned: the final event waits for it. */
  kept?: void | Promise<unknown>
  context: ResponsesContext
  echo: ResponsesEcho
  model: string
  started: boolean
  sequence: number
  /** Every item added so far, each replaced by its final form when done. */
  output: ResponsesOutputItem[]
  open: ItemState | null
  /** Tool call index (within choice 0) → its item. */
  tools: Map<number, FunctionCallState>
  finishReason: FinishReason | null
  usage: Usage | null
}

const deltaHead = (type: string, id: string, outputIndex: number, index: string): string =>
  `event: ${type}\ndata: {"type":"${type}","item_id":${JSON.stringify(id)},"output_index":${outputIndex}${index},"delta":`

const snapshot = (
  state: EncoderState,
  status: ResponsesStatus,
  fields: Pick<ResponsesResponseFields, 'usage' | 'error' | 'incompleteDetails'> = {}
): ResponsesResponse =>
  buildResponsesResponse(state.context, state.echo, {
    status,
    model: state.model,
    output: state.output,
    usage: fields.usage,
    error: fields.error,
    incompleteDetails: fields.incompleteDetails,
  })

/** `response.created` and `response.in_progress`: one `Response`, serialised once for both. */
const head = (state: EncoderState): string => {
  state.started = true
  const response = JSON.stringify(snapshot(state, 'in_progress'))
  const created = state.sequence++
  const inProgress = state.sequence++
  return (
    `event: response.created\ndata: {"type":"response.created","response":${response},"sequence_number":${created}}\n\n` +
    `event: response.in_progress\ndata: {"type":"response.in_progress","response":${response},"sequence_number":${inProgress}}\n\n`
  )
}

const added = (state: EncoderState, outputIndex: number, item: ResponsesOutputItem): string => {
  state.output.push(item)
  return frame({
    type: 'response.output_item.added',
    output_index: outputIndex,
    item,
    sequence_number: state.sequence++,
  })
}

const itemDone = (state: EncoderState, outputIndex: number, item: ResponsesOutputItem): string => {
  state.output[outputIndex] = item
  return frame({
    type: 'response.output_item.done',
    output_index: outputIndex,
    item,
    sequence_number: state.sequence++,
  })
}

const finalMessage = (open: MessageState, status: ResponsesItemStatus): ResponsesMessageItem =>
  messageItem(open.id, [outputText(open.text)], status)

const finalReasoning = (open: ReasoningState): ResponsesReasoningItem =>
  reasoningItem(open.id, { type: 'reasoning', text: open.text, signature: open.signature })

const finalFunctionCall = (
  state: EncoderState,
  open: FunctionCallState,
  status: ResponsesItemStatus
): ResponsesFunctionCallItem =>
  functionCallItem(
    open.id,
    { id: open.callId, name: open.name, arguments: open.arguments },
    status,
    state.context
  )

const closeMessage = (
  state: EncoderState,
  open: MessageState,
  status: ResponsesItemStatus
): string =>
  frame({
    type: 'response.output_text.done',
    item_id: open.id,
    output_index: open.outputIndex,
    content_index: 0,
    text: open.text,
    logprobs: [],
    sequence_number: state.sequence++,
  }) +
  frame({
    type: 'response.content_part.done',
    item_id: open.id,
    output_index: open.outputIndex,
    content_index: 0,
    part: outputText(open.text),
    sequence_number: state.sequence++,
  }) +
  itemDone(state, open.outputIndex, finalMessage(open, status))

const closeReasoning = (state: EncoderState, open: ReasoningState): string => {
  let out = ''
  if (open.summaryOpen) {
    out +=
      frame({
        type: 'response.reasoning_summary_text.done',
        item_id: open.id,
        output_index: open.outputIndex,
        summary_index: 0,
        text: open.text,
        sequence_number: state.sequence++,
      }) +
      frame({
        type: 'response.reasoning_summary_part.done',
        item_id: open.id,
        output_index: open.outputIndex,
        summary_index: 0,
        part: { type: 'summary_text', text: open.text },
        sequence_number: state.sequence++,
      })
  }
  return out + itemDone(state, open.outputIndex, finalReasoning(open))
}

const closeFunctionCall = (
  state: EncoderState,
  open: FunctionCallState,
  status: ResponsesItemStatus
): string => {
  const item = finalFunctionCall(state, open, status)
  return (
    frame({
      type: 'response.function_call_arguments.done',
      item_id: open.id,
      output_index: open.outputIndex,
      name: item.name,
      arguments: open.arguments,
      sequence_number: state.sequence++,
    }) + itemDone(state, open.outputIndex, item)
  )
}

/** Ends the open item with its `.done` events; `status` is the item's (`incomplete` when the answer was cut in it). */
const closeItem = (state: EncoderState, status: ResponsesItemStatus): string => {
  const open = state.open
  if (open === null) return ''
  state.open = null
  switch (open.kind) {
    case 'message':
      return closeMessage(state, open, status)
    case 'reasoning':
      return closeReasoning(state, open)
    case 'function_call':
      return closeFunctionCall(state, open, status)
  }
}

const openMessage = (state: EncoderState): MessageState => {
  const id = createResponsesItemId('msg')
  const outputIndex = state.output.length
  const open: MessageState = {
    kind: 'message',
    outputIndex,
    id,
    text: '',
    deltaHead: deltaHead('response.output_text.delta', id, outputIndex, ',"content_index":0'),
  }
  state.open = open
  return open
}

const messageAdded = (state: EncoderState, open: MessageState): string =>
  added(state, open.outputIndex, messageItem(open.id, [], 'in_progress')) +
  frame({
    type: 'response.content_part.added',
    item_id: open.id,
    output_index: open.outputIndex,
    content_index: 0,
    part: outputText(''),
    sequence_number: state.sequence++,
  })

const openReasoning = (state: EncoderState): ReasoningState => {
  const id = createResponsesItemId('rs')
  const outputIndex = state.output.length
  const open: ReasoningState = {
    kind: 'reasoning',
    outputIndex,
    id,
    text: '',
    signature: undefined,
    summaryOpen: false,
    deltaHead: deltaHead(
      'response.reasoning_summary_text.delta',
      id,
      outputIndex,
      ',"summary_index":0'
    ),
  }
  state.open = open
  return open
}

const reasoningDelta = (
  state: EncoderState,
  chunk: Extract<ChatChunk, { type: 'reasoning-delta' }>
): string => {
  if (chunk.delta === '' && !chunk.signature) return ''
  let out = ''
  let open = state.open
  if (open?.kind !== 'reasoning' || open.signature !== undefined) {
    out += closeItem(state, 'completed')
    open = openReasoning(state)
    out += added(state, open.outputIndex, { id: open.id, type: 'reasoning', summary: [] })
  }
  if (chunk.delta !== '') {
    if (!open.summaryOpen) {
      open.summaryOpen = true
      out += frame({
        type: 'response.reasoning_summary_part.added',
        item_id: open.id,
        output_index: open.outputIndex,
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
        sequence_number: state.sequence++,
      })
    }
    open.text += chunk.delta
    out += `${open.deltaHead}${JSON.stringify(chunk.delta)},"sequence_number":${state.sequence++}}\n\n`
  }
  if (chunk.signature) open.signature = chunk.signature
  return out
}

const toolCallDelta = (
  state: EncoderState,
  chunk: Extract<ChatChunk, { type: 'tool-call-delta' }>
): string => {
  let out = ''
  let call = state.tools.get(chunk.index)
  if (call === undefined) {
    out += closeItem(state, 'completed')
    const id = createResponsesItemId('fc')
    const outputIndex = state.output.length
    call = {
      kind: 'function_call',
      outputIndex,
      id,
      callId: chunk.id || `call_${id.slice(3)}`,
      name: chunk.name ?? '',
      arguments: '',
      deltaHead: deltaHead('response.function_call_arguments.delta', id, outputIndex, ''),
    }
    state.tools.set(chunk.index, call)
    state.open = call
    out += added(
      state,
      outputIndex,
      functionCallItem(
        id,
        { id: call.callId, name: call.name, arguments: '' },
        'in_progress',
        state.context
      )
    )
  }
  if (chunk.argumentsDelta === '') return out
  call.arguments += chunk.argumentsDelta
  if (state.open !== call) {
    // Its item is done already: only the final `Response` can still carry the fragment.
    const item = state.output[call.outputIndex]
    if (item.type === 'function_call') item.arguments = call.arguments
    return out
  }
  return (
    out +
    `${call.deltaHead}${JSON.stringify(chunk.argumentsDelta)},"sequence_number":${state.sequence++}}\n\n`
  )
}

const encodeChunk = (state: EncoderState, chunk: ChatChunk): string => {
  let out = ''
  if (!state.started) {
    if (chunk.type === 'start') state.model = chunk.model || state.model
    out = head(state)
  }
  switch (chunk.type) {
    case 'start':
      if (chunk.usage) state.usage = chunk.usage
      return out
    case 'usage':
      state.usage = chunk.usage
      return out
    case 'text-delta': {
      if (chunk.choiceIndex !== 0 || chunk.delta === '') return out
      let open = state.open
      if (open?.kind !== 'message') {
        out += closeItem(state, 'completed')
        open = openMessage(state)
        out += messageAdded(state, open)
      }
      open.text += chunk.delta
      return `${out}${open.deltaHead}${JSON.stringify(chunk.delta)},"logprobs":[],"sequence_number":${state.sequence++}}\n\n`
    }
    case 'reasoning-delta':
      return chunk.choiceIndex === 0 ? out + reasoningDelta(state, chunk) : out
    case 'tool-call-delta':
      return chunk.choiceIndex === 0 ? out + toolCallDelta(state, chunk) : out
    case 'finish': {
      if (chunk.choiceIndex !== 0) return out
      state.finishReason = chunk.finishReason
      const { status } = responsesOutcome(chunk.finishReason)
      return out + closeItem(state, status === 'incomplete' ? 'incomplete' : 'completed')
    }
  }
}

const finish = (state: EncoderState): string => {
  const { status, incompleteDetails } = responsesOutcome(state.finishReason)
  const out =
    (state.started ? '' : head(state)) +
    closeItem(state, status === 'incomplete' ? 'incomplete' : 'completed')
  const response = snapshot(state, status, {
    usage: state.usage ?? emptyUsage(),
    incompleteDetails,
  })
  state.kept = state.context.onFinished?.(response)
  return (
    out +
    frame({
      type: status === 'incomplete' ? 'response.incomplete' : 'response.completed',
      response,
      sequence_number: state.sequence++,
    })
  )
}

/** The open item goes into the failed `Response` as it stands, `incomplete`, without `.done` events. */
const fail = (state: EncoderState, error: ResponsesErrorDescription): string => {
  let out = state.started ? '' : head(state)
  const open = state.open
  if (open !== null) {
    state.open = null
    state.output[open.outputIndex] =
      open.kind === 'message'
        ? finalMessage(open, 'incomplete')
        : open.kind === 'reasoning'
          ? finalReasoning(open)
          : finalFunctionCall(state, open, 'incomplete')
  }
  out += errorFrame(error, state.sequence++)
  const code =
    error.code !== null && responseErrorCodes.has(error.code) ? error.code : 'server_error'
  const response = snapshot(state, 'failed', {
    error: { code, message: error.message },
    usage: state.usage ?? undefined,
  })
  return out + frame({ type: 'response.failed', response, sequence_number: state.sequence++ })
}

/**
 * The Responses event stream for a converted answer. `context` gives the response id, its creation time and the
 * request whose settings the `Response` echoes; `describeError` words a failure of `chunks` for the client. Cancelling
 * the result cancels `chunks`.
 */
export const encodeResponsesSse = (
  chunks: ReadableStream<ChatChunk>,
  options: EncodeResponsesSseOptions
): ReadableStream<Uint8Array> => {
  const reader = chunks.getReader()
  const model = options.context.body.model
  const state: EncoderState = {
    context: options.context,
    echo: responsesEcho(options.context.body),
    model: typeof model === 'string' ? model : '',
    started: false,
    sequence: 0,
    output: [],
    open: null,
    tools: new Map(),
    finishReason: null,
    usage: null,
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let result: ReadableStreamReadResult<ChatChunk>
        try {
          result = await reader.read()
        } catch (error) {
          controller.enqueue(encoder.encode(fail(state, options.describeError(error))))
          controller.close()
          await reader.cancel(error).catch(() => {})
          return
        }
        if (result.done) {
          const last = finish(state)
          // What the answer was kept as is there before the client reads the end of it.
          await Promise.resolve(state.kept).catch(() => {})
          controller.enqueue(encoder.encode(last))
          controller.close()
          return
        }
        const out = encodeChunk(state, result.value)
        if (out !== '') {
          controller.enqueue(encoder.encode(out))
          return
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
