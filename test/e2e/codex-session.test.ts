/**
 * A Codex CLI session, replayed through the gateway with the official `openai` SDK: what Codex sends on every turn
 * (its instructions, a developer message, function tools beside a `namespace` tool and `web_search`, `reasoning:
 * {summary: "auto"}`, `include: ["reasoning.encrypted_content"]`, `store: false`, `prompt_cache_key`,
 * `client_metadata`, `parallel_tool_calls: false`, streamed), the whole conversation sent again each turn with no
 * `previous_response_id`: reasoning items, function calls and their outputs, assistant messages. The session resumes
 * one begun on an OpenAI reasoning model, so its first turn already replays a reasoning item. Three turns (a tool
 * call, the tool's output answered, another tool call), through the passthrough (OpenAI upstream) and through a
 * converted route (Anthropic upstream). Each turn's events are numbered from 0, valid against the OpenAPI document,
 * and in the API's order for the output they carry.
 */
import type OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

type Item = Record<string, unknown>
type Event = { type: string; sequence_number: number } & Item

const instructions =
  'You are Codex, a coding agent based on GPT-5. Keep going until the task is done.'

const tools = [
  {
    type: 'namespace',
    name: 'files',
    description: 'Tools of the files MCP server',
    tools: [
      {
        type: 'function',
        name: 'list_dir',
        description: 'List a directory',
        parameters: {
          type: 'object',
          properties: { path: { type: 'string' } },
          required: ['path'],
          additionalProperties: false,
        },
      },
    ],
  },
  {
    type: 'function',
    name: 'shell',
    description: 'Runs a shell command and returns its output.',
    strict: false,
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'array', items: { type: 'string' } },
        workdir: { type: 'string' },
      },
      required: ['command'],
      additionalProperties: false,
    },
  },
  { type: 'web_search' },
]

/** The first turn's context: a session begun on an OpenAI reasoning model (`codex resume`), reasoning item included. */
const resumedHistory: Item[] = [
  {
    type: 'message',
    role: 'developer',
    content: [{ type: 'input_text', text: '<permissions>sandbox: workspace-write</permissions>' }],
  },
  {
    type: 'message',
    role: 'user',
    content: [
      { type: 'input_text', text: '<environment_context>cwd: /repo</environment_context>' },
    ],
  },
  { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] },
  {
    type: 'reasoning',
    id: 'rs_68e1resumed0000000000000000000000000000000000001',
    summary: [{ type: 'summary_text', text: '**Greeting the user**' }],
    encrypted_content: 'gAAAAABo4resumedreasoningfromanearlierturn==',
  },
  {
    type: 'message',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'Hi! What should I work on?' }],
  },
]

const userMessage = (text: string): Item => ({
  type: 'message',
  role: 'user',
  content: [{ type: 'input_text', text }],
})

/** Output items as Codex sends them back next turn: reasoning with its encrypted content, calls and messages bare. */
const asReplayed = (output: Item[]): Item[] =>
  output.map((item) => {
    if (item.type === 'reasoning')
      return {
        type: 'reasoning',
        id: item.id,
        summary: item.summary,
        encrypted_content: item.encrypted_content,
      }
    if (item.type === 'function_call')
      return {
        type: 'function_call',
        ...(item.namespace === undefined ? {} : { namespace: item.namespace }),
        name: item.name,
        arguments: item.arguments,
        call_id: item.call_id,
      }
    const content = item.content as { type: string; text: string }[]
    return {
      type: 'message',
      role: 'assistant',
      content: content.map((part) => ({ type: 'output_text', text: part.text })),
    }
  })

/**
 * The event types the API emits for a finished response's output, in order (repeated deltas collapsed to one):
 * created, in progress, each item's added, parts and deltas and done, then the terminal event.
 */
const expectedSequence = (output: Item[]): string[] => {
  const types = ['response.created', 'response.in_progress']
  for (const item of output) {
    types.push('response.output_item.added')
    if (item.type === 'reasoning') {
      for (const _part of item.summary as unknown[])
        types.push(
          'response.reasoning_summary_part.added',
          'response.reasoning_summary_text.delta',
          'response.reasoning_summary_text.done',
          'response.reasoning_summary_part.done'
        )
    } else if (item.type === 'function_call') {
      types.push('response.function_call_arguments.delta', 'response.function_call_arguments.done')
    } else if (item.type === 'message') {
      types.push(
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done'
      )
    }
    types.push('response.output_item.done')
  }
  types.push('response.completed')
  return types
}

const collapsed = (events: Event[]): string[] =>
  events
    .map((event) => event.type)
    .filter((type, index, all) => !(type.endsWith('.delta') && all[index - 1] === type))

type Route = {
  name: string
  model: string
  upstream: 'openai' | 'anthropic'
  /** The output item types of each turn (a reasoning model first reasons; Anthropic, asked for no thinking, not). */
  outputTypes: string[][]
  /** The function each tool-calling turn calls, as the client names it. */
  calls: { turn: number; name: string; namespace?: string }[]
}

const routes: Route[] = [
  {
    name: 'passthrough to an OpenAI upstream',
    model: 'openai/gpt-5-codex',
    upstream: 'openai',
    outputTypes: [
      ['reasoning', 'function_call'],
      ['reasoning', 'message'],
      ['reasoning', 'function_call'],
    ],
    // OpenAI itself decides what a namespace tool means: the mock calls only plain functions.
    calls: [
      { turn: 0, name: 'shell' },
      { turn: 2, name: 'shell' },
    ],
  },
  {
    name: 'converted to an Anthropic upstream',
    model: 'anthropic/claude-sonnet-4-5',
    upstream: 'anthropic',
    // Claude says what it is about to do before the tool call.
    outputTypes: [['message', 'function_call'], ['message'], ['message', 'function_call']],
    calls: [
      { turn: 0, name: 'shell' },
      { turn: 2, name: 'list_dir', namespace: 'files' },
    ],
  },
]

describe.each(routes)('a Codex session, $name', (route) => {
  let gateway: E2EGateway
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    gateway = await startE2EGateway({ openai: { streamChunks: 3 }, anthropic: { streamChunks: 3 } })
    client = gateway.openAIClient()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamBodies = (): Item[] =>
    route.upstream === 'openai'
      ? gateway.openai.requests
          .filter((request) => request.path === '/v1/responses')
          .map((request) => request.body as Item)
      : gateway.anthropic.requests
          .filter((request) => request.path === '/v1/messages')
          .map((request) => request.body as Item)

  it('runs three streamed turns, replaying the whole conversation each time', async () => {
    const sent: Item[] = []
    const turn = async (input: Item[]) => {
      const request = {
        model: route.model,
        instructions,
        input,
        tools,
        tool_choice: 'auto',
        parallel_tool_calls: false,
        reasoning: { effort: 'medium', summary: 'auto' },
        store: false,
        stream: true,
        include: ['reasoning.encrypted_content'],
        prompt_cache_key: '0199a213-81c0-7800-8aa1-bbab2a035a53',
        client_metadata: { originator: 'codex_cli_rs', version: '0.46.0' },
      }
      sent.push(request)
      const { data: stream, response } = await client.responses
        .create(request as unknown as OpenAI.Responses.ResponseCreateParamsStreaming)
        .withResponse()
      const events: Event[] = []
      for await (const event of stream) events.push(event as unknown as Event)
      return { events, headers: response.headers }
    }

    const conversation: Item[] = [
      ...resumedHistory,
      userMessage('use the tool shell to list the files'),
    ]
    const outputs: Item[][] = []
    for (let index = 0; index < 3; index += 1) {
      const { events, headers } = await turn([...conversation])
      for (const event of events) expectValidOpenAI('ResponseStreamEvent', event)
      expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, at) => at))
      const completed = events.at(-1) as Event & { response: OpenAI.Responses.Response }
      expect(completed.type).toBe('response.completed')
      const output = completed.response.output as unknown as Item[]
      expect(output.map((item) => item.type)).toEqual(route.outputTypes[index])
      expect(collapsed(events)).toEqual(expectedSequence(output))
      // Every item announced is the one that ends, with the same id.
      const done = events
        .filter((event) => event.type === 'response.output_item.done')
        .map((event) => event.item)
      expect(done).toEqual(output)
      expect(completed.response).toMatchObject({
        store: false,
        prompt_cache_key: '0199a213-81c0-7800-8aa1-bbab2a035a53',
        parallel_tool_calls: false,
      })
      if (route.upstream === 'anthropic')
        expect(headers.get('x-gatehouse-omitted-tools')).toBe('web_search')
      for (const item of output)
        if (item.type === 'reasoning') {
          expect(item.encrypted_content).toEqual(expect.any(String))
          expect(item.summary).not.toEqual([])
        }
      const expectedCall = route.calls.find((call) => call.turn === index)
      if (expectedCall !== undefined) {
        const call = output.find((item) => item.type === 'function_call')!
        expect(call).toMatchObject({ name: expectedCall.name })
        expect(call.namespace).toBe(expectedCall.namespace)
      }
      outputs.push(output)
      conversation.push(...asReplayed(output))
      if (index === 0) {
        const call = output.find((item) => item.type === 'function_call')!
        conversation.push({
          type: 'function_call_output',
          call_id: call.call_id,
          output: 'Cargo.toml\nsrc\n',
        })
      } else if (index === 1) {
        expect(
          (output.find((item) => item.type === 'message')!.content as { text: string }[])[0].text
        ).toBe('tool result received: Cargo.toml\nsrc\n')
        conversation.push(userMessage('now use the tool list_dir on src'))
      }
    }

    const bodies = upstreamBodies()
    expect(bodies).toHaveLength(3)
    if (route.upstream === 'openai') {
      // Forwarded as sent: only the model named for the upstream; the reasoning items replayed (the resumed one and
      // each turn's own) were taken, with their encrypted content, since nothing is stored.
      bodies.forEach((body, index) =>
        expect(body).toEqual({ ...sent[index], model: 'gpt-5-codex' })
      )
      const replayed = (bodies[2].input as Item[]).filter((item) => item.type === 'reasoning')
      expect(replayed.map((item) => item.id)).toEqual([
        resumedHistory[3].id,
        outputs[0][0].id,
        outputs[1][0].id,
      ])
    } else {
      // Converted: the namespace function flattened, web_search left out, OpenAI's reasoning dropped (of no use to
      // Claude), the tool call and its output given back as tool_use and tool_result.
      for (const body of bodies)
        expect((body.tools as { name: string }[]).map((tool) => tool.name)).toEqual([
          'files__list_dir',
          'shell',
        ])
      const messages = bodies[2].messages as { role: string; content: Item[] }[]
      const blocks = messages.flatMap((message) => message.content.map((block) => block.type))
      expect(blocks).not.toContain('thinking')
      expect(blocks).not.toContain('redacted_thinking')
      expect(blocks).toContain('tool_use')
      expect(blocks).toContain('tool_result')
      expect(messages.at(-1)).toMatchObject({
        role: 'user',
        content: [{ type: 'text', text: 'now use the tool list_dir on src' }],
      })
    }
  })
})
