/**
 * Canonical result → a Responses API `Response` object as the real API writes one
 * (https://platform.openai.com/docs/api-reference/responses/object; `Response` in the OpenAPI document): the answer as
 * output items in order (`reasoning`, `message`, `function_call`), `usage`, and every setting of the request echoed
 * back with the API's defaults when the client left it out. Also the building blocks `encode-responses-sse.ts` makes
 * the streamed snapshots and items from, so both paths write the same objects.
 *
 * - Status: a `length` finish is `incomplete` with `incomplete_details.reason: "max_output_tokens"`, a content filter
 *   `incomplete` with `"content_filter"`; everything else is `completed` (the API has no status for an upstream's
 *   `error`/`other` finish, and the chat encoders end those as a normal stop too). The item the answer was cut in is
 *   `incomplete` as well, as on the real API.
 * - `output_text` is an SDK convenience, not a wire field: never sent.
 * - A refusal part is a `refusal` content part (`{type: "refusal", refusal}`) of the message item, apart from the
 *   `output_text` parts, as the API writes one: structured-output clients parse only `output_text`.
 * - Reasoning parts become `reasoning` items whose one `summary_text` part is the thinking text, with the signature (or
 *   redacted data) in `encrypted_content` (`reasoning-content.ts`). It is sent whether or not the client's `include`
 *   asks for `reasoning.encrypted_content`: the real API sends it only on request, because it keeps the reasoning
 *   server-side, but an Anthropic upstream refuses a tool loop with thinking on unless each signed block comes back
 *   verbatim, and a client that replays output items by value has only what it was given. The field is optional in
 *   the schema and every client that reads reasoning items accepts it.
 * - Function calls keep the upstream's tool-call id as `call_id` (the client sends it back with the call's output);
 *   `context.toolName` maps a flattened namespace function back to `{namespace, name}`.
 * - Function tools are echoed with the API's defaults filled (`strict: true`, `description: null`,
 *   `parameters: null`), as the schema requires them; other tools as the client sent them.
 */
import type {
  ChatResult,
  FinishReason,
  ReasoningPart,
  Usage,
} from '../../../providers/spec/chat-types.ts'
import type { ResponsesContext } from './responses-context.ts'
import { encodeReasoningContent } from './reasoning-content.ts'
import { responsesUsage, type ResponsesUsage } from './responses-usage.ts'
import { randomHex } from '../../core/random-ids.ts'

export type ResponsesItemStatus = 'in_progress' | 'completed' | 'incomplete'

export type ResponsesOutputText = {
  type: 'output_text'
  text: string
  annotations: []
  logprobs: []
}

/** The API's `RefusalContent`. */
export type ResponsesRefusal = { type: 'refusal'; refusal: string }

export type ResponsesMessageContent = ResponsesOutputText | ResponsesRefusal

export type ResponsesMessageItem = {
  id: string
  type: 'message'
  status: ResponsesItemStatus
  content: ResponsesMessageContent[]
  role: 'assistant'
}

export type ResponsesFunctionCallItem = {
  id: string
  type: 'function_call'
  status: ResponsesItemStatus
  arguments: string
  call_id: string
  name: string
  namespace?: string
}

export type ResponsesSummaryText = { type: 'summary_text'; text: string }

export type ResponsesReasoningItem = {
  id: string
  type: 'reasoning'
  summary: ResponsesSummaryText[]
  encrypted_content?: string
}

export type ResponsesOutputItem =
  ResponsesMessageItem | ResponsesFunctionCallItem | ResponsesReasoningItem

export type ResponsesStatus = 'completed' | 'incomplete' | 'failed' | 'in_progress'

export type ResponsesIncompleteDetails = { reason: 'max_output_tokens' | 'content_filter' }

/** `code` is one of the API's `ResponseErrorCode` values. */
export type ResponsesError = { code: string; message: string }

/** The request's settings as a `Response` echoes them (computed once per answer: `responsesEcho`). */
export type ResponsesEcho = {
  instructions: unknown
  max_output_tokens: number | null
  max_tool_calls: number | null
  parallel_tool_calls: boolean
  previous_response_id: string | null
  prompt_cache_key: string | null
  reasoning: Record<string, unknown>
  safety_identifier: string | null
  store: boolean
  temperature: number
  text: Record<string, unknown>
  tool_choice: unknown
  tools: unknown[]
  top_logprobs: number
  top_p: number
  truncation: string
  /** Only when the client sent one: the schema types it as a string, not nullable. */
  user: string | undefined
  metadata: Record<string, unknown>
}

/** The `Response` object: the echoed settings, and what the answer holds. */
export type ResponsesResponse = Omit<ResponsesEcho, 'user'> & {
  id: string
  object: 'response'
  created_at: number
  status: ResponsesStatus
  background: false
  completed_at: number | null
  error: ResponsesError | null
  incomplete_details: ResponsesIncompleteDetails | null
  model: string
  output: ResponsesOutputItem[]
  /** Absent while the answer is in progress (the schema does not let it be `null`). */
  usage?: ResponsesUsage
  user?: string
}

/** `resp_…`, `msg_…`, `fc_…`, `rs_…`: the prefix and 48 random hex digits, the length of the real API's ids. */
export const createResponsesItemId = (prefix: 'resp' | 'msg' | 'fc' | 'rs'): string =>
  `${prefix}_${randomHex(24)}`

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const numberOr = <T>(value: unknown, fallback: T): number | T =>
  typeof value === 'number' ? value : fallback

const stringOr = <T>(value: unknown, fallback: T): string | T =>
  typeof value === 'string' ? value : fallback

const echoTool = (tool: unknown): unknown =>
  isObject(tool) && tool.type === 'function'
    ? { description: null, parameters: null, strict: true, ...tool }
    : tool

/** The request's settings as the `Response` echoes them, the API's defaults filling what the client left out. */
export const responsesEcho = (body: Record<string, unknown>): ResponsesEcho => {
  const reasoning = isObject(body.reasoning) ? body.reasoning : {}
  const text = isObject(body.text) ? body.text : {}
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: numberOr(body.max_output_tokens, null),
    max_tool_calls: numberOr(body.max_tool_calls, null),
    parallel_tool_calls:
      typeof body.parallel_tool_calls === 'boolean' ? body.parallel_tool_calls : true,
    previous_response_id: stringOr(body.previous_response_id, null),
    prompt_cache_key: stringOr(body.prompt_cache_key, null),
    reasoning: { effort: null, summary: null, ...reasoning },
    safety_identifier: stringOr(body.safety_identifier, null),
    store: typeof body.store === 'boolean' ? body.store : true,
    temperature: numberOr(body.temperature, 1),
    text: { format: { type: 'text' }, verbosity: 'medium', ...text },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools.map(echoTool) : [],
    top_logprobs: numberOr(body.top_logprobs, 0),
    top_p: numberOr(body.top_p, 1),
    truncation: stringOr(body.truncation, 'disabled'),
    user: stringOr(body.user, undefined),
    metadata: isObject(body.metadata) ? body.metadata : {},
  }
}

/** How a finish reason ends the response: `incomplete` (with why) for a cut answer, `completed` otherwise. */
export const responsesOutcome = (
  finishReason: FinishReason | null
): { status: 'completed' | 'incomplete'; incompleteDetails: ResponsesIncompleteDetails | null } => {
  switch (finishReason?.unified) {
    case 'length':
      return { status: 'incomplete', incompleteDetails: { reason: 'max_output_tokens' } }
    case 'content-filter':
      return { status: 'incomplete', incompleteDetails: { reason: 'content_filter' } }
    default:
      return { status: 'completed', incompleteDetails: null }
  }
}

export const outputText = (text: string): ResponsesOutputText => ({
  type: 'output_text',
  text,
  annotations: [],
  logprobs: [],
})

export const refusalContent = (refusal: string): ResponsesRefusal => ({ type: 'refusal', refusal })

export const messageItem = (
  id: string,
  content: ResponsesMessageContent[],
  status: ResponsesItemStatus
): ResponsesMessageItem => ({ id, type: 'message', status, content, role: 'assistant' })

export const functionCallItem = (
  id: string,
  call: { id: string; name: string; arguments: string },
  status: ResponsesItemStatus,
  context: ResponsesContext
): ResponsesFunctionCallItem => {
  const mapped = context.toolName ? context.toolName(call.name) : null
  const item: ResponsesFunctionCallItem = {
    id,
    type: 'function_call',
    status,
    arguments: call.arguments,
    call_id: call.id,
    name: mapped ? mapped.name : call.name,
  }
  if (mapped?.namespace !== undefined) item.namespace = mapped.namespace
  return item
}

/** An empty thinking text (redacted, or omitted by the upstream) is an empty `summary`, as the API sends one. */
export const reasoningItem = (id: string, part: ReasoningPart): ResponsesReasoningItem => {
  const item: ResponsesReasoningItem = {
    id,
    type: 'reasoning',
    summary: part.text === '' ? [] : [{ type: 'summary_text', text: part.text }],
  }
  const encrypted = encodeReasoningContent(part)
  if (encrypted !== null) item.encrypted_content = encrypted
  return item
}

export type ResponsesResponseFields = {
  status: ResponsesStatus
  model: string
  output: ResponsesOutputItem[]
  /** Absent: no `usage` (an answer in progress). */
  usage?: Usage
  error?: ResponsesError | null
  incompleteDetails?: ResponsesIncompleteDetails | null
}

/** The `Response` object, written out field by field in the real API's order. */
/**
 * The echoed request settings a `Response` carries after its `output`, in the API's order: the object built here and
 * the streamed events' template (`encode-responses-sse.ts`) both take them from this one list.
 */
export const echoAfterOutput = (echo: ResponsesEcho) => ({
  parallel_tool_calls: echo.parallel_tool_calls,
  previous_response_id: echo.previous_response_id,
  prompt_cache_key: echo.prompt_cache_key,
  reasoning: echo.reasoning,
  safety_identifier: echo.safety_identifier,
  store: echo.store,
  temperature: echo.temperature,
  text: echo.text,
  tool_choice: echo.tool_choice,
  tools: echo.tools,
  top_logprobs: echo.top_logprobs,
  top_p: echo.top_p,
  truncation: echo.truncation,
  metadata: echo.metadata,
})

export const buildResponsesResponse = (
  context: ResponsesContext,
  echo: ResponsesEcho,
  fields: ResponsesResponseFields
): ResponsesResponse => {
  const response: ResponsesResponse = {
    id: context.responseId,
    object: 'response',
    created_at: context.createdAt,
    status: fields.status,
    background: false,
    completed_at: fields.status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: fields.error ?? null,
    incomplete_details: fields.incompleteDetails ?? null,
    instructions: echo.instructions,
    max_output_tokens: echo.max_output_tokens,
    max_tool_calls: echo.max_tool_calls,
    model: fields.model,
    output: fields.output,
    ...echoAfterOutput(echo),
  }
  if (fields.usage !== undefined) response.usage = responsesUsage(fields.usage)
  if (echo.user !== undefined) response.user = echo.user
  return response
}

/**
 * Choice 0's parts as output items: consecutive text and refusal parts make one message, each run of one kind a content
 * part of it (`output_text` or `refusal`).
 */
const outputItems = (
  result: ChatResult,
  context: ResponsesContext,
  status: ResponsesItemStatus
): ResponsesOutputItem[] => {
  const choice = result.choices.find((candidate) => candidate.index === 0) ?? result.choices[0]
  const output: ResponsesOutputItem[] = []
  let message: ResponsesMessageItem | null = null
  for (const part of choice?.content ?? []) {
    if (part.type === 'text' || part.type === 'refusal') {
      if (part.text === '') continue
      if (message === null) {
        message = messageItem(createResponsesItemId('msg'), [], 'completed')
        output.push(message)
      }
      const last = message.content.at(-1)
      if (part.type === 'text') {
        if (last?.type === 'output_text') last.text += part.text
        else message.content.push(outputText(part.text))
      } else if (last?.type === 'refusal') last.refusal += part.text
      else message.content.push(refusalContent(part.text))
      continue
    }
    message = null
    if (part.type === 'reasoning') {
      if (part.text !== '' || part.signature || part.redactedData !== undefined)
        output.push(reasoningItem(createResponsesItemId('rs'), part))
    } else {
      output.push(functionCallItem(createResponsesItemId('fc'), part, 'completed', context))
    }
  }
  const last = output.at(-1)
  if (status === 'incomplete' && last !== undefined && last.type !== 'reasoning')
    last.status = 'incomplete'
  return output
}

/** A non-streamed converted answer as the client's `Response`. */
export const convertToResponsesResponse = (
  result: ChatResult,
  context: ResponsesContext
): ResponsesResponse => {
  const choice = result.choices.find((candidate) => candidate.index === 0) ?? result.choices[0]
  const outcome = responsesOutcome(choice?.finishReason ?? null)
  const response = buildResponsesResponse(context, responsesEcho(context.body), {
    status: outcome.status,
    model: result.model,
    output: outputItems(
      result,
      context,
      outcome.status === 'incomplete' ? 'incomplete' : 'completed'
    ),
    usage: result.usage,
    incompleteDetails: outcome.incompleteDetails,
  })
  context.onFinished?.(response)
  return response
}
