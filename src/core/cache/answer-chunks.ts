/**
 * A complete answer (`ChatResult`) as the canonical chunks a stream of it would carry: what a cache hit for a
 * `stream: true` request is replayed from, through the client's codec (role, content, refusal and tool-call deltas, the
 * finish reason, usage). `createChatResultAssembler` turns these chunks back into the same answer. Each part is one delta:
 * the client gets the whole answer at once, in a well-formed stream.
 */
import type { ChatChoice, ChatChunk, ChatResult } from '../../../providers/spec/chat-types.ts'

type Part = ChatChoice['content'][number]

/** One whole part of an answer as its one chunk; `index` is a tool call's position among the choice's calls. */
export const chunkOfPart = (part: Part, choiceIndex: number, index: number): ChatChunk => {
  switch (part.type) {
    case 'text':
      return { type: 'text-delta', choiceIndex, delta: part.text }
    case 'refusal':
      return { type: 'refusal-delta', choiceIndex, delta: part.text }
    case 'reasoning':
      return part.redactedData !== undefined
        ? { type: 'reasoning-delta', choiceIndex, delta: '', redactedData: part.redactedData }
        : part.signature === undefined
          ? { type: 'reasoning-delta', choiceIndex, delta: part.text }
          : { type: 'reasoning-delta', choiceIndex, delta: part.text, signature: part.signature }
    case 'tool-call':
      return {
        type: 'tool-call-delta',
        choiceIndex,
        index,
        id: part.id,
        name: part.name,
        argumentsDelta: part.arguments,
      }
  }
}

export const chunksOfAnswer = (answer: ChatResult): ChatChunk[] => {
  const chunks: ChatChunk[] = [
    {
      type: 'start',
      id: answer.id,
      model: answer.model,
      created: answer.created,
      usage: answer.usage,
    },
  ]
  for (const choice of answer.choices) {
    const choiceIndex = choice.index
    let toolIndex = 0
    for (const part of choice.content) {
      chunks.push(chunkOfPart(part, choiceIndex, toolIndex))
      if (part.type === 'tool-call') toolIndex += 1
    }
    chunks.push({ type: 'finish', choiceIndex, finishReason: choice.finishReason })
  }
  chunks.push({ type: 'usage', usage: answer.usage })
  return chunks
}
