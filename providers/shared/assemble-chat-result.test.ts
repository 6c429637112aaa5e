import { describe, expect, it } from 'vitest'
import type { ChatChunk, Usage } from '../spec/chat-types.ts'
import { createChatResultAssembler } from './assemble-chat-result.ts'

const start: ChatChunk = {
  type: 'start',
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  created: 1_754_651_301,
}
const stop = (choiceIndex = 0): ChatChunk => ({
  type: 'finish',
  choiceIndex,
  finishReason: { unified: 'stop', raw: 'stop' },
})
const usage = (outputTokens: number): Usage => ({
  inputTokens: 10,
  outputTokens,
  cachedInputTokens: null,
  cacheWriteInputTokens: null,
  reasoningTokens: null,
})

const assemble = (chunks: ChatChunk[]) => {
  const assembler = createChatResultAssembler()
  for (const chunk of chunks) assembler.push(chunk)
  return assembler.finish()
}

describe('createChatResultAssembler', () => {
  it('joins text deltas into one part and takes the last usage', () => {
    const result = assemble([
      start,
      { type: 'text-delta', choiceIndex: 0, delta: 'The capital' },
      { type: 'text-delta', choiceIndex: 0, delta: '' },
      { type: 'text-delta', choiceIndex: 0, delta: ' is Paris.' },
      stop(),
      { type: 'usage', usage: usage(3) },
      { type: 'usage', usage: usage(7) },
    ])
    expect(result).toEqual({
      id: 'chatcmpl-1',
      model: 'gpt-4o-mini',
      created: 1_754_651_301,
      choices: [
        {
          index: 0,
          content: [{ type: 'text', text: 'The capital is Paris.' }],
          finishReason: { unified: 'stop', raw: 'stop' },
        },
      ],
      usage: usage(7),
    })
  })

  it('keeps the usage the start carried when no usage chunk follows, and reports unknown usage as nulls', () => {
    expect(
      assemble([
        { ...start, usage: usage(1) },
        { type: 'text-delta', choiceIndex: 0, delta: 'x' },
        stop(),
      ])?.usage
    ).toEqual(usage(1))
    expect(
      assemble([start, { type: 'text-delta', choiceIndex: 0, delta: 'x' }, stop()])?.usage
    ).toEqual({
      inputTokens: null,
      outputTokens: null,
      cachedInputTokens: null,
      cacheWriteInputTokens: null,
      reasoningTokens: null,
    })
  })

  it('assembles parallel tool calls whose fragments interleave, arguments in order, id and name from the first fragment', () => {
    const result = assemble([
      start,
      { type: 'text-delta', choiceIndex: 0, delta: 'Checking.' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'call_a',
        name: 'get_weather',
        argumentsDelta: '',
      },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 1,
        id: 'call_b',
        name: 'get_time',
        argumentsDelta: '{"tz"',
      },
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', choiceIndex: 0, index: 1, argumentsDelta: ':"UTC"}' },
      { type: 'tool-call-delta', choiceIndex: 0, index: 0, argumentsDelta: '"Paris"}' },
      {
        type: 'finish',
        choiceIndex: 0,
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      },
    ])
    expect(result?.choices[0].content).toEqual([
      { type: 'text', text: 'Checking.' },
      { type: 'tool-call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'tool-call', id: 'call_b', name: 'get_time', arguments: '{"tz":"UTC"}' },
    ])
    expect(result?.choices[0].finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' })
  })

  it('keeps each thinking block apart with its own signature, and text after a tool call as a new part', () => {
    const result = assemble([
      start,
      { type: 'reasoning-delta', choiceIndex: 0, delta: 'First' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: ' thought.' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig-1' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: 'Second.' },
      { type: 'reasoning-delta', choiceIndex: 0, delta: '', signature: 'sig-2' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'toolu_1',
        name: 'lookup',
        argumentsDelta: '{}',
      },
      { type: 'text-delta', choiceIndex: 0, delta: 'Done.' },
      stop(),
    ])
    expect(result?.choices[0].content).toEqual([
      { type: 'reasoning', text: 'First thought.', signature: 'sig-1' },
      { type: 'reasoning', text: 'Second.', signature: 'sig-2' },
      { type: 'tool-call', id: 'toolu_1', name: 'lookup', arguments: '{}' },
      { type: 'text', text: 'Done.' },
    ])
  })

  it('assembles several choices apart, ordered by index whatever order they arrived in', () => {
    const result = assemble([
      start,
      { type: 'text-delta', choiceIndex: 1, delta: 'B' },
      { type: 'text-delta', choiceIndex: 0, delta: 'A' },
      { type: 'text-delta', choiceIndex: 1, delta: 'b' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'call_0',
        name: 'f',
        argumentsDelta: '{}',
      },
      {
        type: 'tool-call-delta',
        choiceIndex: 1,
        index: 0,
        id: 'call_1',
        name: 'g',
        argumentsDelta: '[]',
      },
      { type: 'finish', choiceIndex: 1, finishReason: { unified: 'length', raw: 'length' } },
      stop(0),
    ])
    expect(result?.choices).toEqual([
      {
        index: 0,
        content: [
          { type: 'text', text: 'A' },
          { type: 'tool-call', id: 'call_0', name: 'f', arguments: '{}' },
        ],
        finishReason: { unified: 'stop', raw: 'stop' },
      },
      {
        index: 1,
        content: [
          { type: 'text', text: 'Bb' },
          { type: 'tool-call', id: 'call_1', name: 'g', arguments: '[]' },
        ],
        finishReason: { unified: 'length', raw: 'length' },
      },
    ])
  })

  it('reports a choice that finished with no content (an empty answer is still an answer)', () => {
    expect(assemble([start, stop()])?.choices).toEqual([
      { index: 0, content: [], finishReason: { unified: 'stop', raw: 'stop' } },
    ])
  })

  it('reports nothing for an answer cut short: no finish, one choice unfinished, no start, or nothing at all', () => {
    expect(assemble([start, { type: 'text-delta', choiceIndex: 0, delta: 'Once upon' }])).toBeNull()
    expect(
      assemble([
        start,
        { type: 'text-delta', choiceIndex: 0, delta: 'A' },
        { type: 'text-delta', choiceIndex: 1, delta: 'B' },
        stop(0),
      ])
    ).toBeNull()
    expect(assemble([{ type: 'text-delta', choiceIndex: 0, delta: 'A' }, stop()])).toBeNull()
    expect(assemble([{ type: 'text-delta', choiceIndex: 0, delta: 'A' }, start, stop()])).toBeNull()
    expect(assemble([start])).toBeNull()
    expect(assemble([])).toBeNull()
  })
})

describe('createChatResultAssembler: a refusal', () => {
  it('joins refusal deltas into one refusal part, apart from the text around it', () => {
    const assembler = createChatResultAssembler()
    for (const chunk of [
      start,
      { type: 'text-delta', choiceIndex: 0, delta: 'Well,' },
      { type: 'refusal-delta', choiceIndex: 0, delta: "I'm sorry, " },
      { type: 'refusal-delta', choiceIndex: 0, delta: '' },
      { type: 'refusal-delta', choiceIndex: 0, delta: "I can't." },
      { type: 'text-delta', choiceIndex: 0, delta: ' Bye.' },
      stop(),
    ] satisfies ChatChunk[])
      assembler.push(chunk)
    expect(assembler.finish()?.choices[0].content).toEqual([
      { type: 'text', text: 'Well,' },
      { type: 'refusal', text: "I'm sorry, I can't." },
      { type: 'text', text: ' Bye.' },
    ])
  })
})
