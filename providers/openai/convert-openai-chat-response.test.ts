import { describe, expect, it } from 'vitest'
import { createChatResultAssembler } from '../shared/assemble-chat-result.ts'
import type { ChatChunk } from '../spec/chat-types.ts'
import { convertOpenAIChatResponse } from './convert-openai-chat-response.ts'
import { parseOpenAIChatStream } from './parse-openai-chat-stream.ts'

const refusal = "I'm sorry, I can't help with that."

const read = async (stream: ReadableStream<ChatChunk>): Promise<ChatChunk[]> => {
  const chunks: ChatChunk[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return chunks
    chunks.push(value)
  }
}

const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-r',
    object: 'chat.completion.chunk',
    created: 5,
    model: 'gpt-4o',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  })}\n\n`

describe('convertOpenAIChatResponse: a refusal', () => {
  it('makes message.refusal a refusal part, not text', () => {
    const result = convertOpenAIChatResponse({
      completion: {
        id: 'chatcmpl-r',
        object: 'chat.completion',
        created: 5,
        model: 'gpt-4o',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: null, refusal, annotations: [] },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
      },
      model: 'gpt-4o',
      now: 1,
    })
    expect(result.choices[0].content).toEqual([{ type: 'refusal', text: refusal }])
    expect(result.choices[0].finishReason).toEqual({ unified: 'stop', raw: 'stop' })
  })
})

describe('parseOpenAIChatStream: a refusal', () => {
  it('turns delta.refusal into refusal deltas, which assemble into a refusal part', async () => {
    const body = [
      chunk({ role: 'assistant', content: null, refusal: '' }),
      chunk({ refusal: "I'm sorry, " }),
      chunk({ refusal: "I can't help with that." }),
      chunk({}, 'stop'),
      'data: [DONE]\n\n',
    ].join('')
    const chunks = await read(
      parseOpenAIChatStream(new Response(body).body!, {
        providerId: 'openai',
        model: 'gpt-4o',
        now: 1,
      })
    )
    expect(chunks.filter((item) => item.type !== 'start' && item.type !== 'finish')).toEqual([
      { type: 'refusal-delta', choiceIndex: 0, delta: "I'm sorry, " },
      { type: 'refusal-delta', choiceIndex: 0, delta: "I can't help with that." },
    ])
    const assembler = createChatResultAssembler()
    for (const item of chunks) assembler.push(item)
    expect(assembler.finish()?.choices[0].content).toEqual([{ type: 'refusal', text: refusal }])
  })
})
