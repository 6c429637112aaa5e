import { describe, expect, it } from 'vitest'
import type { ChatResult } from '../spec/chat-types.ts'
import { createFakeTransport } from './__fixtures__/create-fake-transport.ts'
import errorMidStream from './__fixtures__/anthropic-error-mid-stream.chunks.txt?raw'
import textJson from './__fixtures__/anthropic-text.json?raw'
import textStream from './__fixtures__/anthropic-text.chunks.txt?raw'
import thinkingToolJson from './__fixtures__/anthropic-thinking-tool.json?raw'
import thinkingToolsStream from './__fixtures__/anthropic-thinking-tools.chunks.txt?raw'
import toolNoArgsStream from './__fixtures__/anthropic-tool-no-args.chunks.txt?raw'
import truncatedStream from './__fixtures__/anthropic-truncated.chunks.txt?raw'
import { createAnthropicAdapter } from './anthropic-adapter.ts'
import { anthropicTextAnswer } from './__fixtures__/anthropic-text-answer.ts'
import { anthropicThinkingToolsAnswer } from './__fixtures__/anthropic-thinking-tools-answer.ts'
import { createAnthropicAnswerTap } from './create-anthropic-answer-tap.ts'

const created = 1_800_000_000

/** Feeds `text` in chunks of `chunkSize` bytes (cuts inside UTF-8, `\r\n` and JSON), as the body arrives. */
const assemble = (
  text: string,
  options: { stream: boolean; chunkSize?: number; operation?: 'messages' | 'count-tokens' }
) => {
  const tap = createAnthropicAnswerTap({
    operation: options.operation ?? 'messages',
    stream: options.stream,
    providerId: 'anthropic',
    created,
  })
  const bytes = new TextEncoder().encode(text)
  const size = options.chunkSize ?? bytes.byteLength
  for (let offset = 0; offset < bytes.byteLength; offset += size)
    tap.write(bytes.subarray(offset, offset + size))
  return tap.finish().answer
}

const chunkSizes = [1, 2, 7, 64, undefined]

/** The events of a recorded stream, each with its blank line. */
const eventsOf = (sse: string): string[] => sse.split(/(?<=\n\n)/)

/** Tool arguments as values: a streamed `partial_json` keeps the model's spacing, a JSON body's `input` has none. */
const withParsedArguments = (answer: ChatResult | null | undefined) =>
  answer && {
    ...answer,
    choices: answer.choices.map((choice) => ({
      ...choice,
      content: choice.content.map((part) =>
        part.type === 'tool-call'
          ? { ...part, arguments: JSON.parse(part.arguments) as unknown }
          : part
      ),
    })),
  }

const thinkingToolsAnswer = anthropicThinkingToolsAnswer(created)

/** What the Messages API answers without `stream` for the message `anthropic-thinking-tools.chunks.txt` streams. */
const thinkingToolsJson = JSON.stringify({
  model: 'claude-sonnet-4-6',
  id: 'msg_011CfWBu94HWxZXjXK6ZhEXM',
  type: 'message',
  role: 'assistant',
  content: [
    {
      type: 'thinking',
      thinking: "The user wants the weather in two cities. I'll call get_weather twice.",
      signature: 'EqQBCkgIARABGAIiQL2p3sig',
    },
    {
      type: 'tool_use',
      id: 'toolu_01A09q90qw90lq917835lq9',
      name: 'get_weather',
      input: { city: 'Paris', unit: 'c' },
    },
    {
      type: 'tool_use',
      id: 'toolu_01B7xk2nN3p4vQ6rS8tU0wYz',
      name: 'get_weather',
      input: { city: 'Tokyo' },
    },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: {
    input_tokens: 599,
    cache_creation_input_tokens: 256,
    cache_read_input_tokens: 1024,
    cache_creation: { ephemeral_5m_input_tokens: 256, ephemeral_1h_input_tokens: 0 },
    output_tokens: 112,
    output_tokens_details: { thinking_tokens: 18 },
    service_tier: 'standard',
  },
})

describe('createAnthropicAnswerTap: streamed messages', () => {
  it('assembles the text, stop reason and final usage of a recorded stream, wherever the chunks are cut', () => {
    for (const chunkSize of chunkSizes) {
      expect(assemble(textStream, { stream: true, chunkSize })).toEqual({
        id: 'msg_01QC4g3HwBThD4BaNtBckFDJ',
        model: 'claude-sonnet-4-5-20250929',
        created,
        choices: [
          {
            index: 0,
            content: [
              { type: 'text', text: "Hello! I'm doing well, thank you — how can I help? 👋" },
            ],
            finishReason: { unified: 'stop', raw: 'end_turn' },
          },
        ],
        usage: {
          inputTokens: 12,
          outputTokens: 30,
          cachedInputTokens: 0,
          cacheWriteInputTokens: 0,
          cacheWrite1hInputTokens: 0,
          reasoningTokens: null,
        },
      })
    }
  })

  it('assembles thinking with its signature and parallel tool calls with full arguments, as the non-streamed answer has them', () => {
    for (const chunkSize of chunkSizes)
      expect(assemble(thinkingToolsStream, { stream: true, chunkSize })).toEqual(
        thinkingToolsAnswer
      )
    expect(withParsedArguments(assemble(thinkingToolsJson, { stream: false }))).toEqual(
      withParsedArguments(thinkingToolsAnswer)
    )
  })

  it('gives a tool called without arguments an empty object, after the text before it', () => {
    expect(assemble(toolNoArgsStream, { stream: true, chunkSize: 5 })?.choices).toEqual([
      {
        index: 0,
        content: [
          { type: 'text', text: "I'll update the issue list for you." },
          {
            type: 'tool-call',
            id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP',
            name: 'updateIssueList',
            arguments: '{}',
          },
        ],
        finishReason: { unified: 'tool-calls', raw: 'tool_use' },
      },
    ])
  })

  it('reads a stream framed with \\r\\n, and one whose events carry their name only in `type`', () => {
    const expected = assemble(textStream, { stream: true })
    expect(expected).not.toBeNull()
    expect(assemble(textStream.replaceAll('\n', '\r\n'), { stream: true, chunkSize: 3 })).toEqual(
      expected
    )
    expect(
      assemble(textStream.replaceAll(/^event: .*\n/gm, ''), { stream: true, chunkSize: 3 })
    ).toEqual(expected)
  })

  it('reports no answer for a stream cut short, before its stop reason or between it and message_stop', () => {
    const events = eventsOf(textStream)
    for (const chunkSize of chunkSizes) {
      expect(assemble(truncatedStream, { stream: true, chunkSize })).toBeNull()
      expect(assemble(events.slice(0, -1).join(''), { stream: true, chunkSize })).toBeNull()
      expect(
        assemble(textStream.slice(0, textStream.indexOf('"stop_reason":"end_turn"') + 5), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
    }
    expect(assemble('', { stream: true })).toBeNull()
  })

  it('reports no answer when the stream carries an error event, even one before message_stop', () => {
    const events = eventsOf(textStream)
    const error =
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    for (const chunkSize of chunkSizes) {
      expect(assemble(errorMidStream, { stream: true, chunkSize })).toBeNull()
      expect(
        assemble([...events.slice(0, -1), error, ...events.slice(-1)].join(''), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
    }
  })

  it('reports no answer for an unreadable event', () => {
    const events = eventsOf(textStream)
    const broken =
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n'
    for (const chunkSize of chunkSizes) {
      expect(
        assemble([...events.slice(0, 4), broken, ...events.slice(4)].join(''), {
          stream: true,
          chunkSize,
        })
      ).toBeNull()
    }
  })

  it('keeps a redacted thinking block of a stream whole, as a reasoning part of its own', () => {
    const events = eventsOf(thinkingToolsStream)
    const redacted = [
      'event: content_block_start\ndata: {"type":"content_block_start","index":3,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy"}}\n\n',
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":3}\n\n',
    ]
    const stream = [...events.slice(0, -2), ...redacted, ...events.slice(-2)].join('')
    for (const chunkSize of chunkSizes) {
      const content = assemble(stream, { stream: true, chunkSize })?.choices[0].content
      expect(content?.at(-1)).toEqual({ type: 'reasoning', text: '', redactedData: 'EmwKAhgBEgy' })
    }
  })
})

describe('createAnthropicAnswerTap: answers a cache hit could not give back whole', () => {
  const events = eventsOf(textStream)
  /** The recorded text stream with `extra` events before its `message_delta` and `message_stop`. */
  const streamWith = (...extra: string[]): string =>
    [...events.slice(0, -2), ...extra, ...events.slice(-2)].join('')
  const message = JSON.parse(textJson) as Record<string, unknown> & { content: unknown[] }

  it('reports none for a stream with a citation, a server tool block or a compaction block', () => {
    const citation =
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"green","document_index":0,"start_char_index":0,"end_char_index":5}}}\n\n'
    const blockOf = (block: Record<string, unknown>): string[] => [
      `event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 5, content_block: block })}\n\n`,
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":5}\n\n',
    ]
    expect(assemble(textStream, { stream: true })).not.toBeNull()
    expect(assemble(streamWith(citation), { stream: true })).toBeNull()
    expect(
      assemble(
        streamWith(
          ...blockOf({ type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} })
        ),
        { stream: true }
      )
    ).toBeNull()
    expect(
      assemble(streamWith(...blockOf({ type: 'compaction', content: 'Summary' })), {
        stream: true,
      })
    ).toBeNull()
  })

  it('reports none for a stream or a body that stopped for a reason with no canonical meaning', () => {
    const compacted = textStream.replace(/"stop_reason":"end_turn"/, '"stop_reason":"compaction"')
    expect(compacted).not.toBe(textStream)
    expect(assemble(compacted, { stream: true })).toBeNull()
    expect(
      assemble(JSON.stringify({ ...message, stop_reason: 'compaction' }), { stream: false })
    ).toBeNull()
  })

  it('reports none for a body with a cited text block or a block of another type', () => {
    const cited = {
      type: 'text',
      text: 'grass is green',
      citations: [{ type: 'char_location', cited_text: 'The grass is green.', document_index: 0 }],
    }
    expect(assemble(textJson, { stream: false })).not.toBeNull()
    expect(
      assemble(JSON.stringify({ ...message, content: [...message.content, cited] }), {
        stream: false,
      })
    ).toBeNull()
    expect(
      assemble(
        JSON.stringify({
          ...message,
          content: [{ type: 'compaction', content: 'Summary' }, ...message.content],
        }),
        { stream: false }
      )
    ).toBeNull()
    // An empty list of citations is no citation.
    expect(
      assemble(
        JSON.stringify({ ...message, content: [{ type: 'text', text: 'hi', citations: [] }] }),
        { stream: false }
      )
    ).not.toBeNull()
  })
})

describe('createAnthropicAnswerTap: non-streamed bodies', () => {
  it('converts a recorded message, whole or in 1-byte chunks, adjacent text blocks joined', () => {
    for (const chunkSize of [1, undefined]) {
      expect(assemble(textJson, { stream: false, chunkSize })).toEqual(anthropicTextAnswer(created))
    }
  })

  it('keeps thinking, its signature and a tool call without arguments', () => {
    expect(assemble(thinkingToolJson, { stream: false })?.choices[0].content.slice(0, 2)).toEqual([
      {
        type: 'reasoning',
        text: 'The user wants me to call checkSandboxErrors immediately.',
        signature: 'Eq4CCpIBCBIYAipAM+SGYGx7V1aPBT2LXi5M54elabwLjKMzxMZ7dQBpCn7jCn2ZkTBMgSLasCPWFF',
      },
      {
        type: 'tool-call',
        id: 'toolu_017R7ACrx7NF7sLDDtvdQ1u9',
        name: 'checkSandboxErrors',
        arguments: '{}',
      },
    ])
  })

  it('reports no answer for a body cut short, an error body, or a message without a stop reason', () => {
    expect(assemble(textJson.slice(0, -10), { stream: false })).toBeNull()
    expect(
      assemble('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', {
        stream: false,
      })
    ).toBeNull()
    expect(
      assemble(JSON.stringify({ ...(JSON.parse(textJson) as object), stop_reason: null }), {
        stream: false,
      })
    ).toBeNull()
  })

  it('has no answer for a token count', () => {
    expect(assemble('{"input_tokens":14}', { stream: false, operation: 'count-tokens' })).toBeNull()
  })
})

describe('Anthropic adapter', () => {
  it('offers the answer tap for forwarded bodies, dated by its clock', () => {
    const adapter = createAnthropicAdapter({
      id: 'anthropic',
      transport: createFakeTransport([]),
      now: () => created * 1000,
    })
    const tap = adapter.createAnswerTap?.({ operation: 'messages', stream: true })
    tap?.write(new TextEncoder().encode(thinkingToolsStream))
    expect(tap?.finish()).toEqual({ usage: null, answer: thinkingToolsAnswer })
  })
})
