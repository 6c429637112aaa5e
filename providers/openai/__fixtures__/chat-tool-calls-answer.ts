/**
 * The complete answer that `chat-tool-calls.sse` holds (two parallel tool calls), written out by hand: what an answer
 * tap must assemble from that stream, and what the equivalent non-streamed body converts to.
 */
import type { ChatResult } from '../../spec/chat-types.ts'

export const chatToolCallsAnswer: ChatResult = {
  id: 'chatcmpl-C3xNv6cRm3WpJ9tE2kBh7Qz5Ls1Xo',
  model: 'gpt-4o-mini-2024-07-18',
  created: 1_754_651_342,
  choices: [
    {
      index: 0,
      content: [
        { type: 'tool-call', id: 'call_Vx3nB8qLr2TzK5mWc9YpD1aF', name: 'get_weather', arguments: '{"city": "Paris"}' },
        { type: 'tool-call', id: 'call_Hq7sN4eJw0UbG6tXr2ZkM8oC', name: 'get_time', arguments: '{"timezone": "Asia/Tokyo"}' },
      ],
      finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    },
  ],
  usage: { inputTokens: 1530, outputTokens: 49, cachedInputTokens: 1280, cacheWriteInputTokens: null, reasoningTokens: 0 },
}
