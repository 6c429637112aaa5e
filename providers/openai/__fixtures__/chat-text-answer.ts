/**
 * The canonical answer that `chat-text.json` holds, written out by hand: what the adapter's `chat` returns for it and
 * what an answer tap assembles from it.
 */
import type { ChatResult } from '../../spec/chat-types.ts'

export const chatTextAnswer: ChatResult = {
  id: 'chatcmpl-C3xK9pQ2mVb7TtL1sR8dYw4nE6hZa',
  model: 'gpt-4o-mini-2024-07-18',
  created: 1_754_651_200,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'The capital of France is Paris.' }],
      finishReason: { unified: 'stop', raw: 'stop' },
    },
  ],
  usage: {
    inputTokens: 24,
    outputTokens: 8,
    cachedInputTokens: 0,
    cacheWriteInputTokens: null,
    reasoningTokens: 0,
  },
}
