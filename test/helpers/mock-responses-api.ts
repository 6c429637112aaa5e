/**
 * The Responses API of the mock OpenAI upstream (https://platform.openai.com/docs/api-reference/responses):
 * `POST /v1/responses` streamed and not, `GET` and `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`.
 * Written by hand from the OpenAPI document (`CreateResponse`, `Response`, `ResponseStreamEvent`, `OutputItem`,
 * `ResponseUsage`) and recorded live traffic (vercel/ai `packages/openai/src/responses/__fixtures__`, openai-python
 * `tests/lib/responses/test_responses.py`), never from the gateway's code; see ../../../shared/specs/wire-notes.md §9.
 *
 * The model answers as the chat mock does (`decideIntent`): `echo: <last user text>`, function calls when asked to
 * `use tool` (or forced by `tool_choice`), a text quoting the `function_call_output`s that end the input. A model
 * whose name suggests reasoning (`o3`, `o4-mini`, `gpt-5*`, `codex*`) first emits a `reasoning` item, with a summary
 * when `reasoning.summary` asks and `encrypted_content` when `include` asks for `reasoning.encrypted_content`.
 *
 * Responses created with `store` (the API's default) are kept by the mock that created them, as OpenAI keeps them in
 * one organization: `previous_response_id`, `item_reference`, retrieve, delete and input items work there, and
 * another mock answers as OpenAI does for an id it does not know. With `record: false` (load tests) nothing is kept.
 *
 * Background mode (https://platform.openai.com/docs/guides/background), as the live API runs it: a create with
 * `background: true` (not streamed) answers at once with the response `queued`, its `output` empty and `usage: null`
 * (the live API's null; the OpenAPI document's `ResponseUsage` is not nullable, so such a body does not validate
 * against it); the next `backgroundPolls` retrieves answer it `in_progress`, the one after that `completed` with its
 * output and usage (whose items `item_reference` can then name). `POST /v1/responses/{id}/cancel` of a queued or
 * in-progress one answers it `cancelled` (it never completes), of a finished background one answers it as it is (the
 * API's cancel is idempotent), and of one not created in background is a 400 ("Cannot cancel a synchronous
 * response.", as vLLM and other OpenAI-compatible servers answer it). A streamed background create streams the
 * whole answer at once, as without `background`. With `cancelledUsage`, a response cancelled once in progress reports
 * what it used so far (its input, and half its output) rather than `usage: null`. `GET /v1/responses/{id}?stream=true`
 * replays a background response's event stream (it runs to its end first), after `starting_after` when given; a
 * cancelled one, or one not made in background, is a 400.
 */
import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { decideIntent, estimateTokens, limitText, sampleValue } from './mock-upstream-server.ts'
import type {
  JsonReply,
  MockReply,
  MockTool,
  MockToolChoice,
  MockUpstreamOptions,
} from './mock-upstream-server.ts'
import { openAIErrorBody } from './openai-error-body.ts'
import {
  responsesFailureFrames,
  responsesStreamEvents,
  sseFrame,
} from './responses-stream-events.ts'

type Body = Record<string, unknown>
type Item = Record<string, unknown>

export type MockResponsesSettings = Pick<
  MockUpstreamOptions,
  'streamChunks' | 'cacheReadTokens' | 'cacheWriteTokens' | 'record'
> & {
  /**
   * Responses API: stream function-call arguments as `response.function_call_arguments.delta` events before `.done`
   * (default), or, with `false`, only in `.done`, as the live API sometimes does (wire-notes §9).
   */
  functionArgumentDeltas?: boolean
  /**
   * Responses API, `background: true`: how many retrieves answer the response `in_progress` before one answers it
   * done. Default 1 (create: `queued`, first retrieve: `in_progress`, second: `completed`); 0: the first retrieve has
   * the answer.
   */
  backgroundPolls?: number
  /**
   * Responses API, background mode: a response cancelled once `in_progress` reports the usage it had so far (all its
   * input tokens, half its output tokens) instead of `usage: null`.
   */
  cancelledUsage?: boolean
}

export type MockResponsesApi = {
  create(body: Body): MockReply
  retrieve(id: string, query?: URLSearchParams): MockReply
  remove(id: string): MockReply
  inputItems(id: string, query: URLSearchParams): MockReply
  cancel(id: string): MockReply
  reset(): void
}

/** The dated snapshot the API reports as `model` for an alias; other names come back as sent. */
const snapshots: Record<string, string> = {
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  o3: 'o3-2025-04-16',
  'o4-mini': 'o4-mini-2025-04-16',
  'gpt-5': 'gpt-5-2025-08-07',
  'gpt-5-mini': 'gpt-5-mini-2025-08-07',
  'gpt-5-nano': 'gpt-5-nano-2025-08-07',
  'gpt-5.1': 'gpt-5.1-2025-11-13',
}

/** Tokens a reasoning model spends before answering (`output_tokens_details.reasoning_tokens`, within the limit). */
export const MOCK_REASONING_TOKENS = 8

const isReasoningModel = (model: string): boolean => /^(o\d|gpt-5|codex)/.test(model)

const isObject = (value: unknown): value is Body =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

const errorReply = (status: number, error: Parameters<typeof openAIErrorBody>[0]): JsonReply => ({
  kind: 'json',
  status,
  body: openAIErrorBody(error),
})

const invalid = (message: string, param: string | null, code: string | null = null) =>
  errorReply(400, { message, type: 'invalid_request_error', param, code })

const missing = (param: string) =>
  invalid(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter')

const notFound = (message: string, param: string | null = null) =>
  errorReply(404, { message, type: 'invalid_request_error', param, code: null })

/** Chat Completions fields the Responses API refuses, which a gateway could leak when it forwards a chat request. */
const chatOnlyFields = [
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'functions',
  'function_call',
]

const validate = (body: Body): JsonReply | undefined => {
  if (typeof body.model !== 'string') return missing('model')
  const leaked = chatOnlyFields.find((field) => field in body)
  if (leaked !== undefined)
    return invalid(`Unknown parameter: '${leaked}'.`, leaked, 'unknown_parameter')
  if ('response_format' in body) {
    const message =
      "Unsupported parameter: 'response_format'. In the Responses API, this parameter has moved to 'text.format'. Try again with the new parameter."
    return invalid(message, 'response_format', 'unsupported_parameter')
  }
  if (body.input === undefined && body.previous_response_id === undefined) return missing('input')
  if (body.input !== undefined && typeof body.input !== 'string' && !Array.isArray(body.input)) {
    const message = `Invalid type for 'input': expected one of a string or array of input items, but got ${typeof body.input} instead.`
    return invalid(message, 'input', 'invalid_type')
  }
  const limit = body.max_output_tokens
  if (typeof limit === 'number' && limit < 16) {
    const message = `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${limit} instead.`
    return invalid(message, 'max_output_tokens', 'integer_below_min_value')
  }
  const tools = Array.isArray(body.tools) ? body.tools : []
  for (const [index, tool] of tools.entries()) {
    if (!isObject(tool) || typeof tool.type !== 'string') return missing(`tools[${index}].type`)
    // A Chat Completions tool (`{type:'function', function:{name,...}}`) has no top-level name.
    if (tool.type === 'function' && typeof tool.name !== 'string')
      return missing(`tools[${index}].name`)
  }
  return undefined
}

const textOf = (content: unknown): string => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .join('')
}

const isMessage = (item: Item): boolean =>
  typeof item.role === 'string' && (item.type === undefined || item.type === 'message')

const toolChoiceOf = (choice: unknown): MockToolChoice => {
  if (choice === 'none' || choice === 'required') return choice
  if (isObject(choice)) {
    if (choice.type === 'function' && typeof choice.name === 'string') return { name: choice.name }
    if (choice.type === 'allowed_tools' && choice.mode === 'required') return 'required'
  }
  return 'auto'
}

/** Tools as a response shows them: function tools with `strict` (true by default in this API), others as sent. */
const echoTools = (tools: unknown): unknown[] =>
  (Array.isArray(tools) ? tools : []).map((tool: Body) =>
    tool.type === 'function'
      ? {
          type: 'function',
          ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
          name: tool.name,
          output_schema: null,
          parameters: tool.parameters ?? null,
          strict: tool.strict ?? true,
        }
      : tool
  )

export const createMockResponsesApi = (settings: MockResponsesSettings): MockResponsesApi => {
  /**
   * `pending`: a background response not done yet, with the answer it will have and how many more retrieves answer it
   * `in_progress` first; `response` is then what a retrieve or cancel shows, and `context` lacks the output.
   */
  type Stored = {
    response: Body
    input: Item[]
    context: Item[]
    pending?: { answer: Body; output: Item[]; polls: number }
  }
  const stored = new Map<string, Stored>()
  const items = new Map<string, Item>()

  const create = (body: Body): MockReply => {
    const refused = validate(body)
    if (refused !== undefined) return refused
    const hex = (bytes: number) => randomBytes(bytes).toString('hex')
    // Ids of one response share a prefix, as the live API's do.
    const prefix = hex(12)
    const newId = (kind: string) => `${kind}_${prefix}${hex(13)}`

    let history: Item[] = []
    const previousId = body.previous_response_id
    if (typeof previousId === 'string') {
      const previous = stored.get(previousId)
      if (previous === undefined) {
        return invalid(
          `Previous response with id '${previousId}' not found.`,
          'previous_response_id',
          'previous_response_not_found'
        )
      }
      history = previous.context
    }

    const input: Item[] = []
    const raw: unknown[] =
      typeof body.input === 'string'
        ? [{ role: 'user', content: body.input }]
        : ((body.input as unknown[] | undefined) ?? [])
    for (const entry of raw) {
      if (!isObject(entry)) return invalid("Invalid 'input': expected an input item.", 'input')
      const resolved = resolveItem(entry, newId)
      if ('error' in resolved) return resolved.error
      input.push(resolved.item)
    }
    const conversation = [...history, ...input]
    const callIds = new Set(
      conversation.flatMap((item) => (item.type === 'function_call' ? [item.call_id] : []))
    )
    const orphan = input.find(
      (item) => item.type === 'function_call_output' && !callIds.has(item.call_id)
    )
    if (orphan !== undefined) {
      const message = `No tool call found for function call output with call_id ${String(orphan.call_id)}.`
      return invalid(message, 'input')
    }

    const model = body.model as string
    const reasoningParam = isObject(body.reasoning) ? body.reasoning : {}
    const reasons = isReasoningModel(model) && reasoningParam.effort !== 'none'
    const lastUser = [...conversation]
      .reverse()
      .find((item) => isMessage(item) && item.role === 'user')
    const toolResults: string[] = []
    for (let index = conversation.length - 1; index >= 0; index -= 1) {
      const item = conversation[index]
      if (item.type === 'function_call_output') toolResults.unshift(textOf(item.output))
      else if (item.type !== 'function_call' && item.type !== 'reasoning') break
    }
    const tools: MockTool[] = (Array.isArray(body.tools) ? (body.tools as Body[]) : [])
      .filter((tool) => tool.type === 'function')
      .map((tool) => ({ name: String(tool.name), schema: tool.parameters }))
    const intent = decideIntent({
      lastUserText: textOf(lastUser?.content),
      toolResults,
      tools,
      toolChoice: toolChoiceOf(body.tool_choice),
      parallelAllowed: body.parallel_tool_calls !== false,
    })

    const reasoningTokens = reasons ? MOCK_REASONING_TOKENS : 0
    const limit = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined
    const output: Item[] = []
    if (reasons) {
      const summarized = ['auto', 'concise', 'detailed'].includes(String(reasoningParam.summary))
      const plan =
        intent.kind === 'tools'
          ? `I'll call ${intent.calls.map((call) => call.name).join(' and ')}.`
          : "I'll answer the last message."
      const id = newId('rs')
      const encrypted =
        Array.isArray(body.include) && body.include.includes('reasoning.encrypted_content')
      output.push({
        id,
        type: 'reasoning',
        ...(encrypted
          ? {
              encrypted_content: `gAAAAA${Buffer.from(`mock reasoning ${id}`).toString('base64url')}`,
            }
          : {}),
        summary: summarized
          ? [{ type: 'summary_text', text: `**Planning the answer**\n\n${plan}` }]
          : [],
      })
    }
    let truncated = false
    let answerTokens: number
    if (intent.kind === 'text') {
      const format =
        isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined
      const text =
        format?.type === 'json_schema'
          ? JSON.stringify(sampleValue(format.schema, 'value'))
          : format?.type === 'json_object'
            ? JSON.stringify({ echo: intent.text })
            : intent.text
      const budget = limit === undefined ? undefined : limit - reasoningTokens
      const limited = limitText(text, budget)
      truncated = limited.truncated
      answerTokens = truncated ? (budget as number) : estimateTokens(limited.text)
      output.push({
        id: newId('msg'),
        type: 'message',
        status: truncated ? 'incomplete' : 'completed',
        content: [{ type: 'output_text', annotations: [], logprobs: [], text: limited.text }],
        role: 'assistant',
      })
    } else {
      const calls = intent.calls.map((call) => ({
        id: newId('fc'),
        type: 'function_call',
        status: 'completed',
        arguments: JSON.stringify(call.input),
        call_id: `call_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`,
        name: call.name,
      }))
      answerTokens = estimateTokens(calls.map((call) => call.name + call.arguments).join(''))
      output.push(...calls)
    }

    const cached = settings.cacheReadTokens ?? 0
    const written = settings.cacheWriteTokens ?? 0
    const inputTokens =
      estimateTokens(
        JSON.stringify(conversation) +
          JSON.stringify(body.instructions ?? '') +
          JSON.stringify(body.tools ?? '')
      ) +
      cached +
      written
    const outputTokens = answerTokens + reasoningTokens
    const createdAt = Math.floor(Date.now() / 1000)
    const response = {
      id: newId('resp'),
      object: 'response',
      created_at: createdAt,
      status: truncated ? 'incomplete' : 'completed',
      background: body.background ?? false,
      completed_at: truncated ? null : createdAt,
      error: null,
      frequency_penalty: 0,
      incomplete_details: truncated ? { reason: 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: limit ?? null,
      max_tool_calls: body.max_tool_calls ?? null,
      model: snapshots[model] ?? model,
      moderation: null,
      output,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      presence_penalty: 0,
      previous_response_id: previousId ?? null,
      prompt_cache_key: body.prompt_cache_key ?? null,
      prompt_cache_retention: body.prompt_cache_retention ?? 'in_memory',
      reasoning: reasons
        ? {
            context: reasoningParam.context ?? 'current_turn',
            effort: reasoningParam.effort ?? 'medium',
            mode: 'standard',
            summary: reasoningParam.summary ?? null,
          }
        : { context: null, effort: null, summary: null },
      safety_identifier: body.safety_identifier ?? null,
      service_tier:
        body.service_tier === undefined || body.service_tier === 'auto'
          ? 'default'
          : body.service_tier,
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: {
        format: (isObject(body.text) ? body.text.format : undefined) ?? { type: 'text' },
        verbosity: (isObject(body.text) ? body.text.verbosity : undefined) ?? 'medium',
      },
      tool_choice: body.tool_choice ?? 'auto',
      tools: echoTools(body.tools),
      top_logprobs: body.top_logprobs ?? 0,
      top_p: body.top_p ?? 1,
      truncation: body.truncation ?? 'disabled',
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cache_write_tokens: written, cached_tokens: cached },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: reasoningTokens },
        total_tokens: inputTokens + outputTokens,
      },
      // The live API sends `user: null`; the OpenAPI document types it as a string, so the mock omits it unless sent.
      ...(body.user === undefined ? {} : { user: body.user }),
      metadata: body.metadata ?? {},
    }

    // A background response is kept for polling whatever `store` says (the live API keeps it about ten minutes).
    const keep = (body.store !== false || body.background === true) && settings.record !== false
    if (body.background === true && body.stream !== true) {
      // Answered before the model has run: no output, no usage, nothing to reference yet.
      const queued = {
        ...response,
        status: 'queued',
        completed_at: null,
        incomplete_details: null,
        output: [],
        usage: null,
      }
      if (keep) {
        stored.set(response.id, {
          response: queued,
          input,
          context: conversation,
          pending: { answer: response, output, polls: settings.backgroundPolls ?? 1 },
        })
        for (const item of input) items.set(String(item.id), item)
      }
      return { kind: 'json', status: 200, body: queued }
    }
    if (keep) {
      stored.set(response.id, { response, input, context: [...conversation, ...output] })
      for (const item of [...input, ...output]) items.set(String(item.id), item)
    }
    if (body.stream !== true) return { kind: 'json', status: 200, body: response }

    // The live API sends `usage: null` until the end; the OpenAPI document's `Response.usage` is not nullable, so the
    // mock leaves the key out of the response that `response.created`, `.in_progress` and `response.failed` carry.
    const { usage: _final, ...rest } = response
    const started = {
      ...rest,
      status: 'in_progress',
      completed_at: null,
      incomplete_details: null,
      output: [],
      service_tier: body.service_tier ?? 'auto',
    }
    const streamOptions = isObject(body.stream_options) ? body.stream_options : {}
    const events = responsesStreamEvents({
      started,
      response,
      pieces: settings.streamChunks ?? 4,
      obfuscate: streamOptions.include_obfuscation !== false,
      argumentDeltas: settings.functionArgumentDeltas !== false,
    })
    return {
      kind: 'sse',
      events: events.map(sseFrame),
      inBandError: (fault, sent) =>
        responsesFailureFrames({ sent: events.slice(0, sent), started, fault }),
    }
  }

  /**
   * An input item as the API stores it (with an id and a status, text content as parts), or the error the API answers
   * for a reference it cannot resolve: an `item_reference`, or a reasoning item without `encrypted_content` that was
   * never stored (Codex's `store: false` turns send their reasoning items encrypted for that reason).
   */
  const resolveItem = (
    entry: Item,
    newId: (kind: string) => string
  ): { item: Item } | { error: JsonReply } => {
    const unknownItem = (id: string, hint: string) =>
      ({ error: notFound(`Item with id '${id}' not found.${hint}`, 'input') }) as const
    if (entry.type === 'item_reference') {
      const item = items.get(String(entry.id))
      return item === undefined ? unknownItem(String(entry.id), '') : { item }
    }
    if (entry.type === 'reasoning' && typeof entry.encrypted_content !== 'string') {
      const item = items.get(String(entry.id))
      if (item !== undefined) return { item }
      return unknownItem(
        String(entry.id),
        ' Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input.'
      )
    }
    if (isMessage(entry)) {
      const assistant = entry.role === 'assistant'
      const parts =
        typeof entry.content === 'string'
          ? [{ type: assistant ? 'output_text' : 'input_text', text: entry.content }]
          : ((entry.content as unknown[] | undefined) ?? [])
      return {
        item: {
          id: typeof entry.id === 'string' ? entry.id : newId('msg'),
          type: 'message',
          status: 'completed',
          content: assistant
            ? parts.map((part) =>
                isObject(part) && part.type === 'output_text'
                  ? { annotations: [], logprobs: [], ...part }
                  : part
              )
            : parts,
          role: entry.role,
        },
      }
    }
    if (entry.type === 'function_call' || entry.type === 'function_call_output') {
      return {
        item: {
          ...entry,
          id: typeof entry.id === 'string' ? entry.id : newId('fc'),
          status: entry.status ?? 'completed',
        },
      }
    }
    return { item: entry }
  }

  const unknownResponse = (id: string) => notFound(`Response with id '${id}' not found.`)

  /** A background response one retrieve further on: `in_progress` while polls are left, then done. */
  const advance = (found: Stored): void => {
    const { pending } = found
    if (pending === undefined) return
    if (pending.polls > 0) {
      pending.polls -= 1
      found.response = { ...found.response, status: 'in_progress' }
      return
    }
    found.response = pending.answer
    found.context = [...found.context, ...pending.output]
    for (const item of pending.output) items.set(String(item.id), item)
    delete found.pending
  }

  /** A background response's event stream, replayed from its decided answer (after `startingAfter`, when given). */
  const replay = (found: Stored, startingAfter: number): MockReply => {
    const { pending } = found
    const answer = (pending?.answer ?? found.response) as Body & { output: Item[] }
    if (pending !== undefined) {
      pending.polls = 0
      advance(found)
    }
    const { usage: _final, ...rest } = answer
    const started = {
      ...rest,
      status: 'in_progress',
      completed_at: null,
      incomplete_details: null,
      output: [],
    }
    const events = responsesStreamEvents({
      started,
      response: answer,
      pieces: settings.streamChunks ?? 4,
      obfuscate: true,
      argumentDeltas: settings.functionArgumentDeltas !== false,
    }).filter((event) => event.sequence_number > startingAfter)
    return {
      kind: 'sse',
      events: events.map(sseFrame),
      inBandError: (fault, sent) =>
        responsesFailureFrames({ sent: events.slice(0, sent), started, fault }),
    }
  }

  return {
    create,
    retrieve: (id, query) => {
      const found = stored.get(id)
      if (found === undefined) return unknownResponse(id)
      if (query?.get('stream') === 'true') {
        if (found.response.background !== true)
          return invalid('Only background responses can be streamed again.', 'stream')
        if (found.response.status === 'cancelled')
          return invalid('A cancelled response cannot be streamed.', 'stream')
        return replay(found, Number(query.get('starting_after') ?? -1))
      }
      advance(found)
      return { kind: 'json', status: 200, body: found.response }
    },
    cancel: (id) => {
      const found = stored.get(id)
      if (found === undefined) return unknownResponse(id)
      if (found.response.background !== true)
        return invalid('Cannot cancel a synchronous response.', null)
      if (found.pending !== undefined) {
        // Stopped before it finished: it keeps no output and never completes.
        const started = found.response.status === 'in_progress'
        const usage = found.pending.answer.usage as Record<string, number> | undefined
        found.response = {
          ...found.response,
          status: 'cancelled',
          ...(settings.cancelledUsage === true && started && usage !== undefined
            ? {
                usage: {
                  ...usage,
                  output_tokens: Math.floor(usage.output_tokens / 2),
                  output_tokens_details: { reasoning_tokens: 0 },
                  total_tokens: usage.input_tokens + Math.floor(usage.output_tokens / 2),
                },
              }
            : {}),
        }
        delete found.pending
      }
      return { kind: 'json', status: 200, body: found.response }
    },
    remove: (id) => {
      const found = stored.get(id)
      if (found === undefined) return unknownResponse(id)
      stored.delete(id)
      return { kind: 'json', status: 200, body: { id, object: 'response', deleted: true } }
    },
    inputItems: (id, query) => {
      const found = stored.get(id)
      if (found === undefined) return unknownResponse(id)
      const ordered = query.get('order') === 'asc' ? found.input : [...found.input].reverse()
      const after = query.get('after')
      const start = after === null ? 0 : ordered.findIndex((item) => item.id === after) + 1
      const limit = Number(query.get('limit') ?? 20)
      const data = ordered.slice(start, start + limit)
      return {
        kind: 'json',
        status: 200,
        body: {
          object: 'list',
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: start + data.length < ordered.length,
        },
      }
    },
    reset: () => {
      stored.clear()
      items.clear()
    },
  }
}
