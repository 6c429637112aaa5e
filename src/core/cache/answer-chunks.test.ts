import { describe, expect, it } from 'vitest'
import { anthropicThinkingToolsAnswer } from '../../../providers/anthropic/__fixtures__/anthropic-thinking-tools-answer.ts'
import { chatToolCallsAnswer } from '../../../providers/openai/__fixtures__/chat-tool-calls-answer.ts'
import { createChatResultAssembler } from '../../../providers/shared/assemble-chat-result.ts'
import type { ChatResult } from '../../../providers/spec/chat-types.ts'
import { chunksOfAnswer } from './answer-chunks.ts'

const reassembled = (answer: ChatResult): ChatResult | null => {
  const assembler = createChatResultAssembler()
  for (const chunk of chunksOfAnswer(answer)) assembler.push(chunk)
  return assembler.finish()
}

describe('chunksOfAnswer', () => {
  it('gives chunks the assembler turns back into the same answer: tool calls, thinking with signatures, text', () => {
    expect(reassembled(chatToolCallsAnswer)).toEqual(chatToolCallsAnswer)
    const thinking = anthropicThinkingToolsAnswer(1_800_000_000)
    expect(reassembled(thinking)).toEqual(thinking)
  })

  it('keeps several choices apart, each with its finish, and ends with the usage', () => {
    const answer: ChatResult = {
      id: 'x',
      model: 'm',
      created: 1,
      choices: [
        {
          index: 0,
          content: [{ type: 'text', text: 'a' }],
          finishReason: { unified: 'stop', raw: 'stop' },
        },
        {
          index: 1,
          content: [{ type: 'text', text: 'b' }],
          finishReason: { unified: 'length', raw: 'length' },
        },
      ],
      usage: {
        inputTokens: 3,
        outputTokens: 2,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    }
    const chunks = chunksOfAnswer(answer)
    expect(chunks.map((chunk) => chunk.type)).toEqual([
      'start',
      'text-delta',
      'finish',
      'text-delta',
      'finish',
      'usage',
    ])
    expect(reassembled(answer)).toEqual(answer)
  })
})

describe('chunksOfAnswer: a refusal', () => {
  it('replays a refusal as refusal deltas, which assemble back into the refusal part', () => {
    const answer: ChatResult = {
      id: 'x',
      model: 'm',
      created: 1,
      choices: [
        {
          index: 0,
          content: [
            { type: 'text', text: 'Well,' },
            { type: 'refusal', text: "I can't help." },
          ],
          finishReason: { unified: 'stop', raw: 'stop' },
        },
      ],
      usage: {
        inputTokens: 1,
        outputTokens: 1,
        cachedInputTokens: null,
        cacheWriteInputTokens: null,
        reasoningTokens: null,
      },
    }
    expect(chunksOfAnswer(answer).slice(1, 3)).toEqual([
      { type: 'text-delta', choiceIndex: 0, delta: 'Well,' },
      { type: 'refusal-delta', choiceIndex: 0, delta: "I can't help." },
    ])
    expect(reassembled(answer)).toEqual(answer)
  })
})
