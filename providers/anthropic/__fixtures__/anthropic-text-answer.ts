/**
 * The canonical answer that `anthropic-text.json` holds, written out by hand: what the adapter's `chat` returns for it
 * and what an answer tap assembles from it. Anthropic sends no timestamp, so `created` is the adapter's clock.
 */
import type { ChatResult } from '../../spec/chat-types.ts'

export const anthropicTextAnswer = (created: number): ChatResult => ({
  id: 'msg_01TestTextResponse',
  model: 'claude-sonnet-4-5-20250929',
  created,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'Hello! How can I help you today?' }],
      finishReason: { unified: 'stop', raw: 'end_turn' },
    },
  ],
  usage: {
    inputTokens: 10,
    outputTokens: 12,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    cacheWrite1hInputTokens: 0,
    reasoningTokens: null,
  },
})
