/**
 * Canonical chunks → the Responses API's event stream, in exactly the real API's grammar (wire-notes §9;
 * https://platform.openai.com/docs/api-reference/responses-streaming; `ResponseStreamEvent` in the OpenAPI document).
 * Every event has an `event:` line equal to its `type` and a `sequence_number` counting from 0:
 *
 * - `response.created` and `response.in_progress` (the `Response` in progress: `output: []`, no `usage`);
 * - per output item, one after the other (an item is done before the next is added):
 *   - message: `response.output_item.added` → `response.content_part.added` → `response.output_text.delta`… →
 *     `response.output_text.done` → `response.content_part.done` → `response.output_item.done`; a refusal is a
 *     `refusal` content part of the message (`response.refusal.delta`… → `response.refusal.done`), a part of its own
 *     (the next `content_index`) when text and refusal follow each other;
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
 * may come after the finish, so the final event waits for the end of the source (the `.done` events of the finish go
 * out with it, in one piece, rather than in a piece of their own). A reasoning delta after a signature
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
import type { ChunkReader } from '../../../providers/spec/provider-adapter.ts'
import { encodeUtf8Piece } from '../encode-utf8-pieces.ts'
import { webStreamBody, type BodySource } from '../response-body.ts'
import {
  buildResponsesResponse,
  createResponsesItemId,
  functionCallItem,
  messageItem,
  outputText,
  reasoningItem,
  refusalContent,
  responsesEcho,
  echoAfterOutput,
  responsesOutcome,
  type ResponsesError,
  type ResponsesFunctionCallItem,
  type ResponsesIncompleteDetails,
  type ResponsesItemStatus,
  type ResponsesMessageContent,
  type ResponsesMessageItem,
  type ResponsesOutputItem,
  type ResponsesReasoningItem,
  type ResponsesStatus,
} from './convert-to-responses-response.ts'
import type { ResponsesContext } from './responses-context.ts'
import { responsesUsage } from './responses-usage.ts'

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

/*
 * The events are written as JSON text by templates, in the order `JSON.stringify` would write the same objects (the
 * tests hold every event to that): only strings that come from outside (text, arguments, names, the echoed settings)
 * go through `JSON.stringify`, each once, however many events repeat it. Item ids are the gateway's own
 * (`createResponsesItemId`: a prefix, `_` and hex digits), written between quotes as they are.
 */

/** The content part a message item is streaming: `output_text` or `refusal`. */
type MessagePartState = {
  kind: 'text' | 'refusal'
  text: string
  /** The start of every delta event of this part (`response.output_text.delta` / `.refusal.delta`), up to `delta`. */
  deltaHead: string
}

type MessageState = {
  kind: 'message'
  outputIndex: number
  id: string
  /** The parts that are done, and the JSON of each as its `response.content_part.done` carried it. */
  done: ResponsesMessageContent[]
  doneJson: string[]
  part: MessagePartState
}

type ReasoningState = {
  kind: 'reasoning'
  outputIndex: number
  id: string
  text: string
  signature: string | undefined
  /** A redacted block's data (`ChatChunk` `redactedData`): the item is whole, closed as soon as it is opened. */
  redactedData: string | undefined
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

/**
 * The stream's `Response` as JSON text around what changes from one snapshot to the next: the echoed settings are
 * serialised once per stream (`responseTemplate`), not once per snapshot.
 */
type ResponseTemplate = {
  /** `{"id":…,"object":"response","created_at":…,"status":"` */
  head: string
  /** `,"instructions":…,"max_output_tokens":…,"max_tool_calls":…,"model":…,"output":` */
  middle: string
  /** `,"parallel_tool_calls":…` up to `"metadata":…` */
  tail: string
  /** `,"user":…` when the request named one, else empty. */
  user: string
}

type EncoderState = {
  /** What `onFinished` returned: the final event waits for it. */
  kept?: void | Promise<unknown>
  context: ResponsesContext
  model: string
  started: boolean
  sequence: number
  /** Made with the first events, once the model is known. */
  template: ResponseTemplate | null
  /** Every item added so far, each replaced by its final form when done. */
  output: ResponsesOutputItem[]
  /** The JSON of each item that is done, as its `response.output_item.done` carried it (the final `Response` reuses it). */
  outputJson: (string | undefined)[]
  open: ItemState | null
  /**
   * A finish ended choice 0 with an item open: the status to close it with. Its `.done` events go with the next events
   * (the final ones, as a rule), not in a piece of their own; the bytes are the same, in the same order.
   */
  closeAs: ResponsesItemStatus | null
  /** Tool call index (within choice 0) → its item. */
  tools: Map<number, FunctionCallState>
  finishReason: FinishReason | null
  usage: Usage | null
}

const deltaHead = (type: string, id: string, outputIndex: number, index: string): string =>
  `event: ${type}\ndata: {"type":"${type}","item_id":"${id}","output_index":${outputIndex}${index},"delta":`

/** The members of `fields`, serialised, without their braces (`JSON.stringify` leaves out an `undefined` one). */
const members = (fields: Record<string, unknown>): string => JSON.stringify(fields).slice(1, -1)

/** The `Response`'s fields in `buildResponsesResponse`'s order, the echoed ones serialised once. */
const responseTemplate = (state: EncoderState): ResponseTemplate => {
  const { context } = state
  const echo = responsesEcho(context.body)
  return {
    head: `{${members({ id: context.responseId, object: 'response', created_at: context.createdAt })},"status":"`,
    middle: `,${members({
      instructions: echo.instructions,
      max_output_tokens: echo.max_output_tokens,
      max_tool_calls: echo.max_tool_calls,
      model: state.model,
    })},"output":`,
    tail: `,${members(echoAfterOutput(echo))}`,
    user: echo.user === undefined ? '' : `,"user":${JSON.stringify(echo.user)}`,
  }
}

type SnapshotFields = {
  status: ResponsesStatus
  completedAt: number | null
  /** The `output` array as JSON. */
  output: string
  error?: ResponsesError
  incompleteDetails?: ResponsesIncompleteDetails | null
  usage?: Usage
}

/** The `Response` as JSON: what `JSON.stringify(buildResponsesResponse(…))` writes for the same fields. */
const snapshotJson = (template: ResponseTemplate, fields: SnapshotFields): string =>
  `${template.head}${fields.status}","background":false,"completed_at":${fields.completedAt},"error":${
    fields.error === undefined ? 'null' : JSON.stringify(fields.error)
  },"incomplete_details":${
    fields.incompleteDetails == null ? 'null' : JSON.stringify(fields.incompleteDetails)
  }${template.middle}${fields.output}${template.tail}${
    fields.usage === undefined ? '' : `,"usage":${JSON.stringify(responsesUsage(fields.usage))}`
  }${template.user}}`

/** The output so far as JSON: each done item as it was sent, any other serialised now. */
const outputJson = (state: EncoderState): string => {
  let out = '['
  for (let index = 0; index < state.output.length; index += 1) {
    if (index > 0) out += ','
    out += state.outputJson[index] ?? JSON.stringify(state.output[index])
  }
  return `${out}]`
}

/** `response.created` and `response.in_progress`: one `Response`, serialised once for both. */
const head = (state: EncoderState): string => {
  state.started = true
  const template = responseTemplate(state)
  state.template = template
  const response = snapshotJson(template, {
    status: 'in_progress',
    completedAt: null,
    output: '[]',
  })
  const created = state.sequence++
  const inProgress = state.sequence++
  return (
    `event: response.created\ndata: {"type":"response.created","response":${response},"sequence_number":${created}}\n\n` +
    `event: response.in_progress\ndata: {"type":"response.in_progress","response":${response},"sequence_number":${inProgress}}\n\n`
  )
}

const itemEvent = (
  type: 'response.output_item.added' | 'response.output_item.done',
  outputIndex: number,
  itemJson: string,
  sequenceNumber: number
): string =>
  `event: ${type}\ndata: {"type":"${type}","output_index":${outputIndex},"item":${itemJson},"sequence_number":${sequenceNumber}}\n\n`

const added = (
  state: EncoderState,
  outputIndex: number,
  item: ResponsesOutputItem,
  itemJson: string = JSON.stringify(item)
): string => {
  state.output.push(item)
  return itemEvent('response.output_item.added', outputIndex, itemJson, state.sequence++)
}

const itemDone = (
  state: EncoderState,
  outputIndex: number,
  item: ResponsesOutputItem,
  itemJson: string = JSON.stringify(item)
): string => {
  state.output[outputIndex] = item
  state.outputJson[outputIndex] = itemJson
  return itemEvent('response.output_item.done', outputIndex, itemJson, state.sequence++)
}

/** An `output_text` part as JSON, its text already serialised. */
const outputTextJson = (textJson: string): string =>
  `{"type":"output_text","text":${textJson},"annotations":[],"logprobs":[]}`

/** A message content part as JSON (`output_text` or `refusal`), its text already serialised. */
const partJson = (kind: MessagePartState['kind'], textJson: string): string =>
  kind === 'text' ? outputTextJson(textJson) : `{"type":"refusal","refusal":${textJson}}`

const partOf = (part: MessagePartState): ResponsesMessageContent =>
  part.kind === 'text' ? outputText(part.text) : refusalContent(part.text)

/** A message item as JSON (`messageItem`'s fields in order), its content parts already serialised. */
const messageItemJson = (id: string, partsJson: string[], status: ResponsesItemStatus): string =>
  `{"id":"${id}","type":"message","status":"${status}","content":[${partsJson.join(
    ','
  )}],"role":"assistant"}`

/** The message as it stands: its parts done, and the one streaming. */
const finalMessage = (open: MessageState, status: ResponsesItemStatus): ResponsesMessageItem =>
  messageItem(open.id, [...open.done, partOf(open.part)], status)

const finalReasoning = (open: ReasoningState): ResponsesReasoningItem =>
  reasoningItem(
    open.id,
    open.redactedData === undefined
      ? { type: 'reasoning', text: open.text, signature: open.signature }
      : { type: 'reasoning', text: '', redactedData: open.redactedData }
  )

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

/** The streaming part's `.done` events (`response.output_text.done` / `.refusal.done`, `response.content_part.done`). */
const closePart = (state: EncoderState, open: MessageState): string => {
  const { id, outputIndex, part } = open
  const contentIndex = open.done.length
  const text = JSON.stringify(part.text)
  const json = partJson(part.kind, text)
  open.done.push(partOf(part))
  open.doneJson.push(json)
  const textDone = state.sequence++
  const partDone = state.sequence++
  return (
    (part.kind === 'text'
      ? `event: response.output_text.done\ndata: {"type":"response.output_text.done","item_id":"${id}","output_index":${outputIndex},"content_index":${contentIndex},"text":${text},"logprobs":[],"sequence_number":${textDone}}\n\n`
      : `event: response.refusal.done\ndata: {"type":"response.refusal.done","item_id":"${id}","output_index":${outputIndex},"content_index":${contentIndex},"refusal":${text},"sequence_number":${textDone}}\n\n`) +
    `event: response.content_part.done\ndata: {"type":"response.content_part.done","item_id":"${id}","output_index":${outputIndex},"content_index":${contentIndex},"part":${json},"sequence_number":${partDone}}\n\n`
  )
}

const closeMessage = (
  state: EncoderState,
  open: MessageState,
  status: ResponsesItemStatus
): string => {
  const { id, outputIndex } = open
  const out = closePart(state, open)
  return (
    out +
    itemDone(
      state,
      outputIndex,
      messageItem(id, open.done, status),
      messageItemJson(id, open.doneJson, status)
    )
  )
}

const closeReasoning = (state: EncoderState, open: ReasoningState): string => {
  const { id, outputIndex } = open
  let out = ''
  if (open.summaryOpen) {
    const text = JSON.stringify(open.text)
    const textDone = state.sequence++
    const partDone = state.sequence++
    out +=
      `event: response.reasoning_summary_text.done\ndata: {"type":"response.reasoning_summary_text.done","item_id":"${id}","output_index":${outputIndex},"summary_index":0,"text":${text},"sequence_number":${textDone}}\n\n` +
      `event: response.reasoning_summary_part.done\ndata: {"type":"response.reasoning_summary_part.done","item_id":"${id}","output_index":${outputIndex},"summary_index":0,"part":{"type":"summary_text","text":${text}},"sequence_number":${partDone}}\n\n`
  }
  return out + itemDone(state, outputIndex, finalReasoning(open))
}

const closeFunctionCall = (
  state: EncoderState,
  open: FunctionCallState,
  status: ResponsesItemStatus
): string => {
  const item = finalFunctionCall(state, open, status)
  return (
    `event: response.function_call_arguments.done\ndata: {"type":"response.function_call_arguments.done","item_id":"${open.id}","output_index":${open.outputIndex},"name":${JSON.stringify(item.name)},"arguments":${JSON.stringify(open.arguments)},"sequence_number":${state.sequence++}}\n\n` +
    itemDone(state, open.outputIndex, item)
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

/** The `.done` events a finish owes (`EncoderState.closeAs`), before any other event. */
const closeFinished = (state: EncoderState): string => {
  const status = state.closeAs
  if (status === null) return ''
  state.closeAs = null
  return closeItem(state, status)
}

const partState = (
  kind: MessagePartState['kind'],
  id: string,
  outputIndex: number,
  contentIndex: number
): MessagePartState => ({
  kind,
  text: '',
  deltaHead: deltaHead(
    kind === 'text' ? 'response.output_text.delta' : 'response.refusal.delta',
    id,
    outputIndex,
    `,"content_index":${contentIndex}`
  ),
})

/** `response.content_part.added` for the message's streaming part (`open.part`), at the next content index. */
const partAdded = (state: EncoderState, open: MessageState): string =>
  `event: response.content_part.added\ndata: {"type":"response.content_part.added","item_id":"${open.id}","output_index":${open.outputIndex},"content_index":${open.done.length},"part":${partJson(open.part.kind, '""')},"sequence_number":${state.sequence++}}\n\n`

const openMessage = (state: EncoderState, kind: MessagePartState['kind']): MessageState => {
  const id = createResponsesItemId('msg')
  const outputIndex = state.output.length
  const open: MessageState = {
    kind: 'message',
    outputIndex,
    id,
    done: [],
    doneJson: [],
    part: partState(kind, id, outputIndex, 0),
  }
  state.open = open
  return open
}

const messageAdded = (state: EncoderState, open: MessageState): string => {
  const { id, outputIndex } = open
  return (
    added(
      state,
      outputIndex,
      messageItem(id, [], 'in_progress'),
      messageItemJson(id, [], 'in_progress')
    ) + partAdded(state, open)
  )
}

/**
 * A text or refusal delta: into the open message (a new content part of it when the kind changes), or a new message.
 * Text deltas carry `logprobs: []`, as the API's do; refusal deltas have no such field.
 */
const messageDelta = (
  state: EncoderState,
  kind: MessagePartState['kind'],
  delta: string
): string => {
  let out = ''
  let open = state.open
  if (open?.kind !== 'message') {
    out += closeItem(state, 'completed')
    open = openMessage(state, kind)
    out += messageAdded(state, open)
  } else if (open.part.kind !== kind) {
    out += closePart(state, open)
    open.part = partState(kind, open.id, open.outputIndex, open.done.length)
    out += partAdded(state, open)
  }
  open.part.text += delta
  return `${out}${open.part.deltaHead}${JSON.stringify(delta)}${
    kind === 'text' ? ',"logprobs":[]' : ''
  },"sequence_number":${state.sequence++}}\n\n`
}

const openReasoning = (state: EncoderState): ReasoningState => {
  const id = createResponsesItemId('rs')
  const outputIndex = state.output.length
  const open: ReasoningState = {
    kind: 'reasoning',
    outputIndex,
    id,
    text: '',
    signature: undefined,
    redactedData: undefined,
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
  if (chunk.redactedData !== undefined) {
    // A redacted block is whole: an item of its own, opened and done at once, its data in `encrypted_content`.
    let out = closeItem(state, 'completed')
    const redacted = openReasoning(state)
    redacted.redactedData = chunk.redactedData
    out += added(
      state,
      redacted.outputIndex,
      { id: redacted.id, type: 'reasoning', summary: [] },
      `{"id":"${redacted.id}","type":"reasoning","summary":[]}`
    )
    return out + closeItem(state, 'completed')
  }
  if (chunk.delta === '' && !chunk.signature) return ''
  let out = ''
  let open = state.open
  if (open?.kind !== 'reasoning' || open.signature !== undefined) {
    out += closeItem(state, 'completed')
    open = openReasoning(state)
    out += added(
      state,
      open.outputIndex,
      { id: open.id, type: 'reasoning', summary: [] },
      `{"id":"${open.id}","type":"reasoning","summary":[]}`
    )
  }
  if (chunk.delta !== '') {
    if (!open.summaryOpen) {
      open.summaryOpen = true
      out += `event: response.reasoning_summary_part.added\ndata: {"type":"response.reasoning_summary_part.added","item_id":"${open.id}","output_index":${open.outputIndex},"summary_index":0,"part":{"type":"summary_text","text":""},"sequence_number":${state.sequence++}}\n\n`
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
    if (item.type === 'function_call') {
      item.arguments = call.arguments
      state.outputJson[call.outputIndex] = undefined
    }
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
    case 'text-delta':
    case 'refusal-delta':
      if (chunk.choiceIndex !== 0) return out
      if (state.closeAs !== null) out += closeFinished(state)
      if (chunk.delta === '') return out
      return (
        out + messageDelta(state, chunk.type === 'text-delta' ? 'text' : 'refusal', chunk.delta)
      )
    case 'reasoning-delta':
      if (chunk.choiceIndex !== 0) return out
      if (state.closeAs !== null) out += closeFinished(state)
      return out + reasoningDelta(state, chunk)
    case 'tool-call-delta':
      if (chunk.choiceIndex !== 0) return out
      if (state.closeAs !== null) out += closeFinished(state)
      return out + toolCallDelta(state, chunk)
    case 'finish': {
      if (chunk.choiceIndex !== 0) return out
      state.finishReason = chunk.finishReason
      if (state.open !== null && state.closeAs === null) {
        const { status } = responsesOutcome(chunk.finishReason)
        state.closeAs = status === 'incomplete' ? 'incomplete' : 'completed'
      }
      return out
    }
  }
}

const finish = (state: EncoderState): string => {
  const { status, incompleteDetails } = responsesOutcome(state.finishReason)
  const out =
    (state.started ? '' : head(state)) +
    closeFinished(state) +
    closeItem(state, status === 'incomplete' ? 'incomplete' : 'completed')
  const usage = state.usage ?? emptyUsage()
  const completedAt = status === 'completed' ? Math.floor(Date.now() / 1000) : null
  const response = snapshotJson(state.template!, {
    status,
    completedAt,
    output: outputJson(state),
    incompleteDetails,
    usage,
  })
  const { onFinished } = state.context
  if (onFinished !== undefined) {
    const kept = buildResponsesResponse(state.context, responsesEcho(state.context.body), {
      status,
      model: state.model,
      output: state.output,
      usage,
      incompleteDetails,
    })
    kept.completed_at = completedAt
    state.kept = onFinished(kept)
  }
  const type = status === 'incomplete' ? 'response.incomplete' : 'response.completed'
  return `${out}event: ${type}\ndata: {"type":"${type}","response":${response},"sequence_number":${state.sequence++}}\n\n`
}

/** The open item goes into the failed `Response` as it stands, `incomplete`, without `.done` events. */
const fail = (state: EncoderState, error: ResponsesErrorDescription): string => {
  let out = (state.started ? '' : head(state)) + closeFinished(state)
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
  const response = snapshotJson(state.template!, {
    status: 'failed',
    completedAt: null,
    output: outputJson(state),
    error: { code, message: error.message },
    usage: state.usage ?? undefined,
  })
  return `${out}event: response.failed\ndata: {"type":"response.failed","response":${response},"sequence_number":${state.sequence++}}\n\n`
}

/**
 * The Responses event stream for a converted answer, as a body source (`response-body.ts`): one piece per chunk of
 * `chunks` that adds events. `context` gives the response id, its creation time and the request whose settings the
 * `Response` echoes; `describeError` words a failure of `chunks` for the client. Cancelling the source cancels
 * `chunks`.
 */
export const createResponsesSseSource = (
  chunks: ChunkReader<ChatChunk>,
  options: EncodeResponsesSseOptions
): BodySource => {
  const model = options.context.body.model
  const state: EncoderState = {
    context: options.context,
    model: typeof model === 'string' ? model : '',
    started: false,
    sequence: 0,
    template: null,
    output: [],
    outputJson: [],
    open: null,
    closeAs: null,
    tools: new Map(),
    finishReason: null,
    usage: null,
  }
  let finished = false
  /** The source failed, or the encoder did: the failure events end the stream, and the source is released. */
  const failWith = (error: unknown): Uint8Array => {
    finished = true
    chunks.cancel(error).catch(() => {})
    return encodeUtf8Piece(fail(state, options.describeError(error)))
  }
  return {
    async pull() {
      if (finished) return null
      for (;;) {
        let result: ReadableStreamReadResult<ChatChunk>
        try {
          result = await chunks.read()
        } catch (error) {
          return failWith(error)
        }
        if (result.done) {
          finished = true
          const last = finish(state)
          // What the answer was kept as is there before the client reads the end of it.
          await Promise.resolve(state.kept).catch(() => {})
          return encodeUtf8Piece(last)
        }
        let out: string
        try {
          out = encodeChunk(state, result.value)
        } catch (error) {
          return failWith(error)
        }
        if (out !== '') return encodeUtf8Piece(out)
      }
    },
    cancel(reason) {
      finished = true
      return chunks.cancel(reason)
    },
  }
}

/** The same as a Web stream (`createResponsesSseSource`); cancelling it cancels `chunks`. */
export const encodeResponsesSse = (
  chunks: ReadableStream<ChatChunk>,
  options: EncodeResponsesSseOptions
): ReadableStream<Uint8Array> =>
  webStreamBody(createResponsesSseSource(chunks.getReader(), options))
