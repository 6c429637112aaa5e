/**
 * Claude Code 2.1 through the gateway (wire-notes §10): its first call carries a `role: "system"` message inside
 * `messages`, adaptive thinking, `context_management`, `output_config.effort`, system blocks with `cache_control`,
 * a dozen tools and seven `anthropic-beta` flags, on `POST /v1/messages?beta=true`, streamed. Replayed here with the
 * real SDK's beta client through one tool round trip, to an Anthropic model (forwarded) and to an OpenAI one (converted).
 */
import type {
  BetaAssistantMessageParam,
  BetaMessageStreamParams,
  BetaToolUnion,
} from '@anthropic-ai/sdk/resources/beta/messages/messages'
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const betas = [
  'claude-code-20250219',
  'interleaved-thinking-2025-05-14',
  'context-management-2025-06-27',
  'mid-conversation-tool-changes-2026-07-01',
  'thinking-token-count-2026-05-13',
  'advanced-tool-use-2025-11-20',
  'effort-2025-11-24',
]
/** Claude Code's own SDK build puts `?beta=true` on beta calls; the published 1.14 does not, so it is asked for here. */
const claudeCodeOptions = {
  query: { beta: 'true' },
  headers: { 'x-app': 'cli', 'x-claude-code-session-id': '0b7f4c1e-5d7a-4c55-9a55-3f0f6f0b2a10' },
}
const userId = JSON.stringify({
  device_id: 'd41d8cd98f00b204',
  account_uuid: '',
  session_id: '0b7f4c1e-5d7a-4c55-9a55-3f0f6f0b2a10',
})

const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object' as const,
  properties,
  required,
})
const text = { type: 'string' }
const tools: BetaToolUnion[] = [
  {
    name: 'Task',
    description: 'Launch a sub-agent',
    input_schema: object({ description: text, prompt: text }, ['prompt']),
  },
  {
    name: 'Bash',
    description: 'Run a shell command',
    input_schema: object({ command: text, description: text }, ['command']),
  },
  {
    name: 'Glob',
    description: 'Find files by pattern',
    input_schema: object({ pattern: text }, ['pattern']),
  },
  {
    name: 'Grep',
    description: 'Search file contents',
    input_schema: object({ pattern: text, path: text }, ['pattern']),
  },
  {
    name: 'ExitPlanMode',
    description: 'Leave plan mode',
    input_schema: object({ plan: text }, ['plan']),
  },
  {
    name: 'Read',
    description: 'Read a file',
    input_schema: object({ file_path: text, offset: { type: 'number' } }, ['file_path']),
  },
  {
    name: 'Edit',
    description: 'Replace text in a file',
    input_schema: object({ file_path: text, old_string: text, new_string: text }, ['file_path']),
  },
  {
    name: 'Write',
    description: 'Write a file',
    input_schema: object({ file_path: text, content: text }, ['file_path', 'content']),
  },
  {
    name: 'NotebookEdit',
    description: 'Edit a notebook cell',
    input_schema: object({ notebook_path: text, new_source: text }, ['notebook_path']),
  },
  {
    name: 'WebFetch',
    description: 'Fetch a URL',
    input_schema: object({ url: text, prompt: text }, ['url']),
  },
  {
    name: 'TodoWrite',
    description: 'Update the todo list',
    input_schema: object({ todos: { type: 'array', items: object({ content: text }, []) } }, [
      'todos',
    ]),
  },
  {
    name: 'WebSearch',
    description: 'Search the web',
    input_schema: object({ query: text }, ['query']),
    cache_control: { type: 'ephemeral' },
  },
]

const reminder = '<system-reminder>Today is 2026-12-01.</system-reminder>'
const ask = 'use the tool Bash to list the files'
const environment = 'Working directory: /repo. Platform: linux.'

/** The first call, as Claude Code 2.1 shapes it; the SDK adds `stream: true` and turns `betas` into the header. */
const firstTurn = (model: string): BetaMessageStreamParams => ({
  model,
  max_tokens: 32000,
  system: [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli' },
    {
      type: 'text',
      text: 'You are Claude Code, an interactive CLI.',
      cache_control: { type: 'ephemeral' },
    },
    { type: 'text', text: 'Follow the repository rules.', cache_control: { type: 'ephemeral' } },
  ],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: reminder },
        { type: 'text', text: ask, cache_control: { type: 'ephemeral' } },
      ],
    },
    { role: 'system', content: [{ type: 'text', text: environment }] },
  ],
  thinking: { type: 'adaptive', display: 'omitted' },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  output_config: { effort: 'high' },
  metadata: { user_id: userId },
  tools,
})

/** The next call: the same request with the assistant's tool call and its result appended. */
const nextTurn = (
  previous: BetaMessageStreamParams,
  answer: BetaAssistantMessageParam['content'],
  toolUseId: string
): BetaMessageStreamParams => ({
  ...previous,
  messages: [
    ...previous.messages,
    { role: 'assistant', content: answer },
    {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: toolUseId, content: 'README.md\nsrc' }],
    },
  ],
})

/** What a body looks like on the wire (the SDK's assembled blocks carry non-enumerable bookkeeping). */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe('Claude Code → gateway', () => {
  let gateway: E2EGateway
  const urls: string[] = []
  const recordingFetch: typeof fetch = (input, init) => {
    urls.push(input instanceof Request ? input.url : String(input))
    return fetch(input, init)
  }
  beforeAll(async () => {
    gateway = await startE2EGateway()
  })
  afterAll(() => gateway?.close())
  beforeEach(() => {
    gateway.reset()
    urls.length = 0
  })

  /** Two streamed turns: the model calls Bash, then answers the tool result. */
  const session = async (model: string) => {
    const client = gateway.anthropicClient({ fetch: recordingFetch })
    const first = firstTurn(model)
    const toolCall = await client.beta.messages
      .stream({ ...first, betas }, claudeCodeOptions)
      .finalMessage()
    const toolUse = toolCall.content.find((block) => block.type === 'tool_use')
    if (toolUse?.type !== 'tool_use')
      throw new Error(`expected a tool_use block, got ${JSON.stringify(toolCall.content)}`)
    const second = nextTurn(
      first,
      toolCall.content as BetaAssistantMessageParam['content'],
      toolUse.id
    )
    const answer = await client.beta.messages
      .stream({ ...second, betas }, claudeCodeOptions)
      .finalMessage()
    return { first, second, toolCall, toolUse, answer }
  }

  it('forwards it to an Anthropic model untouched but for the model, betas included, through a tool call', async () => {
    const { first, second, toolCall, toolUse, answer } = await session('anthropic/claude-opus-4-7')
    expect(urls).toEqual([
      `${gateway.url}/v1/messages?beta=true`,
      `${gateway.url}/v1/messages?beta=true`,
    ])

    expect(toolCall.stop_reason).toBe('tool_use')
    expect(toolUse).toMatchObject({
      name: 'Bash',
      input: { command: 'sample command', description: 'sample description' },
    })
    expect(toolUse.id).toMatch(/^toolu_/)
    expect(answer.stop_reason).toBe('end_turn')
    expect(answer.content).toEqual([{ type: 'text', text: 'tool result received: README.md\nsrc' }])

    const upstream = gateway.anthropic.requests.filter(
      (request) => request.path.split('?')[0] === '/v1/messages'
    )
    expect(upstream).toHaveLength(2)
    // The query the client sent goes upstream with it, as from a plain reverse proxy.
    expect(upstream.map((request) => request.path)).toEqual([
      '/v1/messages?beta=true',
      '/v1/messages?beta=true',
    ])
    for (const [index, sent] of [first, second].entries()) {
      expect(upstream[index].body).toEqual(
        wire({ ...sent, model: 'claude-opus-4-7', stream: true })
      )
      expect(upstream[index].headers['anthropic-beta']).toBe(betas.join(','))
    }
    expect((upstream[0].body as { messages: unknown[] }).messages[1]).toEqual({
      role: 'system',
      content: [{ type: 'text', text: environment }],
    })
  })

  it('converts it for an OpenAI model: the system message stays in place, tools become functions, through a tool call', async () => {
    const { toolCall, toolUse, answer } = await session('openai/gpt-4o-mini')
    expect(urls).toEqual([
      `${gateway.url}/v1/messages?beta=true`,
      `${gateway.url}/v1/messages?beta=true`,
    ])

    expect(toolCall.stop_reason).toBe('tool_use')
    expect(toolCall.content).toEqual([
      {
        type: 'tool_use',
        id: toolUse.id,
        name: 'Bash',
        input: { command: 'sample command', description: 'sample description' },
      },
    ])
    expect(answer.stop_reason).toBe('end_turn')
    expect(answer.content).toEqual([{ type: 'text', text: 'tool result received: README.md\nsrc' }])

    const upstream = gateway.openai.requests.filter(
      (request) => request.path === '/v1/chat/completions'
    )
    expect(upstream).toHaveLength(2)
    const conversation = [
      {
        role: 'system',
        content:
          'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli\n\nYou are Claude Code, an interactive CLI.\n\nFollow the repository rules.',
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: reminder },
          { type: 'text', text: ask },
        ],
      },
      { role: 'system', content: environment },
    ]
    const functions = tools.map((tool) => {
      const custom = tool as { name: string; description: string; input_schema: unknown }
      return {
        type: 'function',
        function: {
          name: custom.name,
          description: custom.description,
          parameters: custom.input_schema,
        },
      }
    })
    expect(upstream[0].body).toEqual({
      model: 'gpt-4o-mini',
      messages: conversation,
      tools: functions,
      max_completion_tokens: 32000,
      user: userId,
      stream: true,
      stream_options: { include_usage: true },
    })
    expect(upstream[1].body).toMatchObject({
      messages: [
        ...conversation,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: toolUse.id,
              type: 'function',
              function: { name: 'Bash', arguments: JSON.stringify(toolUse.input) },
            },
          ],
        },
        { role: 'tool', tool_call_id: toolUse.id, content: 'README.md\nsrc' },
      ],
    })
    expect(upstream.every((request) => request.headers['anthropic-beta'] === undefined)).toBe(true)
  })

  it('forwards a mid-conversation tool change to Anthropic and refuses it for an OpenAI model, naming the block', async () => {
    const client = gateway.anthropicClient()
    const withToolChange = (model: string): BetaMessageStreamParams => {
      const first = firstTurn(model)
      const change = {
        type: 'tool_addition' as const,
        tool: { type: 'tool_reference' as const, name: 'WebSearch' },
      }
      return { ...first, messages: [first.messages[0], { role: 'system', content: [change] }] }
    }
    const forwarded = withToolChange('anthropic/claude-opus-4-7')
    await client.beta.messages.stream({ ...forwarded, betas }, claudeCodeOptions).finalMessage()
    expect(gateway.anthropic.requests.at(-1)?.body).toEqual(
      wire({ ...forwarded, model: 'claude-opus-4-7', stream: true })
    )

    const refused = await client.beta.messages
      .stream({ ...withToolChange('openai/gpt-4o-mini'), betas }, claudeCodeOptions)
      .finalMessage()
      .then(
        () => undefined,
        (error: unknown) => error
      )
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError)
    expect((refused as InstanceType<typeof Anthropic.BadRequestError>).message).toContain(
      'messages.1.content.0: A `tool_addition` block'
    )
    expect(gateway.openai.requests.filter((request) => request.method === 'POST')).toHaveLength(0)
  })
})
