import { describe, expect, it } from 'vitest'
import { anthropicThinkingToolsAnswer } from '../../../providers/anthropic/__fixtures__/anthropic-thinking-tools-answer.ts'
import { chatToolCallsAnswer } from '../../../providers/openai/__fixtures__/chat-tool-calls-answer.ts'
import { createChatResultAssembler } from '../../../providers/shared/assemble-chat-result.ts'
import type { ChatChunk, ChatResult } from '../../../providers/spec/chat-types.ts'
import type { ChunkReader } from '../../../providers/spec/provider-adapter.ts'
import { GatewayError } from '../errors.ts'
import { chunksOfAnswer } from './answer-chunks.ts'
import { remainderAfter, resumeAfterLeader } from './resume-follower.ts'
import { leaderBrokeOff } from './single-flight.ts'

/** The chunks of `answer` as a stream would cut them: every delta one character at a time. */
const fineChunks = (answer: ChatResult): ChatChunk[] =>
  chunksOfAnswer(answer).flatMap((chunk): ChatChunk[] => {
    if (chunk.type === 'text-delta' || chunk.type === 'refusal-delta')
      return [...chunk.delta].map((delta) => ({ ...chunk, delta }))
    if (chunk.type === 'reasoning-delta') {
      const pieces = [...chunk.delta]
      return pieces.map((delta, at) =>
        at === pieces.length - 1
          ? { ...chunk, delta }
          : { type: chunk.type, choiceIndex: chunk.choiceIndex, delta }
      )
    }
    if (chunk.type === 'tool-call-delta') {
      const pieces = [...chunk.argumentsDelta]
      return pieces.map((argumentsDelta, at) =>
        at === 0
          ? { ...chunk, argumentsDelta }
          : { type: chunk.type, choiceIndex: chunk.choiceIndex, index: chunk.index, argumentsDelta }
      )
    }
    return [chunk]
  })

const assemble = (chunks: ChatChunk[]): ChatResult | null => {
  const assembler = createChatResultAssembler()
  for (const chunk of chunks) assembler.push(chunk)
  return assembler.finish()
}

const snapshotOf = (chunks: ChatChunk[]) => {
  const assembler = createChatResultAssembler()
  for (const chunk of chunks) assembler.push(chunk)
  return assembler.snapshot()
}

const text = (value: string): ChatResult => ({
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  created: 1,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: value }],
      finishReason: { unified: 'stop', raw: 'stop' },
    },
  ],
  usage: {
    inputTokens: 5,
    outputTokens: 3,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningTokens: 0,
  },
})

/** An answer begun, then refused: the refusal a part of its own. */
const refused: ChatResult = {
  ...text('Well,'),
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
}

/** A leader that gives `chunks`, then breaks off. */
const brokenLeader = (chunks: ChatChunk[]): ChunkReader<ChatChunk> => {
  let next = 0
  return {
    read: async () => {
      if (next < chunks.length) return { done: false, value: chunks[next++] }
      throw leaderBrokeOff()
    },
    cancel: async () => {},
  }
}

const readAll = async (reader: ChunkReader<ChatChunk>): Promise<ChatChunk[]> => {
  const out: ChatChunk[] = []
  for (;;) {
    const result = await reader.read()
    if (result.done) return out
    out.push(result.value)
  }
}

describe('remainderAfter', () => {
  const answers: [string, ChatResult][] = [
    ['tool calls', chatToolCallsAnswer],
    ['thinking, signatures and tool calls', anthropicThinkingToolsAnswer(1_800_000_000)],
    ['text', text('Hello, world')],
    ['text then a refusal', refused],
  ]
  for (const [label, answer] of answers)
    it(`completes what was sent into the whole answer, wherever the leader broke off (${label})`, () => {
      const chunks = fineChunks(answer)
      for (let cut = 0; cut < chunks.length; cut += 1) {
        const sent = chunks.slice(0, cut)
        const rest = remainderAfter(snapshotOf(sent), answer)
        expect(rest, `cut after ${cut} chunks`).not.toBeNull()
        expect(assemble([...sent, ...rest!]), `cut after ${cut} chunks`).toEqual(answer)
      }
    })

  it('keeps the tool call ids the client was given, and takes the new ones for calls not yet sent', () => {
    const again: ChatResult = structuredClone(chatToolCallsAnswer)
    for (const part of again.choices[0].content)
      if (part.type === 'tool-call') part.id = `${part.id}-again`
    const chunks = fineChunks(chatToolCallsAnswer)
    const secondCall = chunks.findIndex(
      (chunk) => chunk.type === 'tool-call-delta' && chunk.index === 1
    )
    const sent = chunks.slice(0, secondCall - 1)
    const whole = assemble([...sent, ...remainderAfter(snapshotOf(sent), again)!])!
    const ids = whole.choices[0].content.flatMap((part) =>
      part.type === 'tool-call' ? [part.id] : []
    )
    const original = chatToolCallsAnswer.choices[0].content.flatMap((part) =>
      part.type === 'tool-call' ? [part.id] : []
    )
    expect(ids[0]).toBe(original[0])
    expect(ids.slice(1)).toEqual(original.slice(1).map((id) => `${id}-again`))
  })

  it('gives nothing when the new answer does not continue what was sent', () => {
    const sent = fineChunks(text('Hello, world')).slice(0, 4)
    expect(remainderAfter(snapshotOf(sent), text('Goodbye'))).toBeNull()
    expect(remainderAfter(snapshotOf(sent), text('He'))).toBeNull()
    const called = fineChunks(chatToolCallsAnswer).slice(0, 3)
    expect(remainderAfter(snapshotOf(called), text('Hello'))).toBeNull()
  })
})

describe('resumeAfterLeader', () => {
  it('reads the leader, then the rest of an answer of its own once the leader breaks off', async () => {
    const answer = text('Hello, world')
    const chunks = fineChunks(answer)
    let calls = 0
    const reader = resumeAfterLeader({
      leader: brokenLeader(chunks.slice(0, 5)),
      own: async () => {
        calls += 1
        return answer
      },
    })
    expect(assemble(await readAll(reader))).toEqual(answer)
    expect(calls).toBe(1)
  })

  it('never calls upstream for a leader that ends well; passes on any other failure', async () => {
    const answer = text('Hi')
    const chunks = fineChunks(answer)
    let calls = 0
    const own = async () => {
      calls += 1
      return answer
    }
    let next = 0
    const whole = resumeAfterLeader({
      leader: {
        read: async () =>
          next < chunks.length
            ? { done: false, value: chunks[next++] }
            : { done: true, value: undefined },
        cancel: async () => {},
      },
      own,
    })
    expect(assemble(await readAll(whole))).toEqual(answer)
    const failing = resumeAfterLeader({
      leader: {
        read: async () => {
          throw new GatewayError('timeout', 'idle')
        },
        cancel: async () => {},
      },
      own,
    })
    await expect(failing.read()).rejects.toThrow('idle')
    expect(calls).toBe(0)
  })

  it('ends with an error when its own answer does not continue the leader’s, or its own call fails', async () => {
    const sent = fineChunks(text('Hello, world')).slice(0, 4)
    const diverged = resumeAfterLeader({ leader: brokenLeader(sent), own: async () => text('Bye') })
    await expect(readAll(diverged)).rejects.toThrow('does not continue it')
    const failed = resumeAfterLeader({
      leader: brokenLeader(sent),
      own: async () => {
        throw new GatewayError('upstream', 'own call failed')
      },
    })
    await expect(readAll(failed)).rejects.toThrow('own call failed')
  })
})

describe('remainderAfter: a refusal', () => {
  it('does not join an answer whose refusal was text when the leader broke off', () => {
    const sent = fineChunks(text("Well,I can't help.")).slice(0, 8)
    expect(remainderAfter(snapshotOf(sent), refused)).toBeNull()
  })

  it('goes on with refusal deltas where the refusal was cut', () => {
    const chunks = fineChunks(refused)
    const cut = chunks.findIndex((chunk) => chunk.type === 'refusal-delta') + 3
    const rest = remainderAfter(snapshotOf(chunks.slice(0, cut)), refused)!
    expect(rest.filter((chunk) => chunk.type === 'refusal-delta')).toEqual([
      { type: 'refusal-delta', choiceIndex: 0, delta: "an't help." },
    ])
    expect(rest.some((chunk) => chunk.type === 'text-delta')).toBe(false)
  })
})
