/**
 * The complete answer that `anthropic-thinking-tools.chunks.txt` holds (a thinking block, then two parallel tool
 * calls), written out by hand: what an answer tap, or a converted stream, must assemble from that stream. Anthropic
 * sends no timestamp, so `created` is whatever the adapter's clock said.
 */
import type { ChatResult } from '../../spec/chat-types.ts'

export const anthropicThinkingToolsAnswer = (created: number): ChatResult => ({
  id: 'msg_011CfWBu94HWxZXjXK6ZhEXM',
  model: 'claude-sonnet-4-6',
  created,
  choices: [
    {
      index: 0,
      content: [
        {
          type: 'reasoning',
          text: "The user wants the weather in two cities. I'll call get_weather twice.",
          signature: 'EqQBCkgIARABGAIiQL2p3sig',
        },
        {
          type: 'tool-call',
          id: 'toolu_01A09q90qw90lq917835lq9',
          name: 'get_weather',
          arguments: '{"city": "Paris", "unit": "c"}',
        },
        {
          type: 'tool-call',
          id: 'toolu_01B7xk2nN3p4vQ6rS8tU0wYz',
          name: 'get_weather',
          arguments: '{"city": "Tokyo"}',
        },
      ],
      finishReason: { unified: 'tool-calls', raw: 'tool_use' },
    },
  ],
  usage: {
    inputTokens: 1879,
    outputTokens: 112,
    cachedInputTokens: 1024,
    cacheWriteInputTokens: 256,
    cacheWrite1hInputTokens: 0,
    reasoningTokens: 18,
  },
})
