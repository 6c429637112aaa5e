/**
 * A complete answer (`ChatResult`) as the canonical chunks a stream of it would carry: what a cache hit for a
 * `stream: true` request is replayed from, through the client's codec (role, content, refusal and tool-call deltas, the
 * finish reason, usage). `createChatResultAssembler` turns these chunks back into the same answer. Each part is one delta:
 * the client gets the whole answer at once, in a well-formed stream.
 */
import type { ChatChunk, ChatResult } from '../../../providers/spec/chat-types.ts'

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
      switch (part.type) {
        case 'text':
          chunks.push({ type: 'text-delta', choiceIndex, delta: part.text })
          break
        case 'refusal':
          chunks.push({ type: 'refusal-delta', choiceIndex, delta: part.text })
          break
        case 'reasoning':
          chunks.push(
            part.redactedData !== undefined
              ? { type: 'reasoning-delta', choiceIndex, delta: '', redactedData: part.redactedData }
              : part.signature === undefined
                ? { type: 'reasoning-delta', choiceIndex, delta: part.text }
                : {
                    type: 'reasoning-delta',
                    choiceIndex,
                    delta: part.text,
                    signature: part.signature,
                  }
          )
          break
        case 'tool-call':
          chunks.push({
            type: 'tool-call-delta',
            choiceIndex,
            index: toolIndex,
            id: part.id,
            name: part.name,
            argumentsDelta: part.arguments,
          })
          toolIndex += 1
          break
      }
    }
    chunks.push({ type: 'finish', choiceIndex, finishReason: choice.finishReason })
  }
  chunks.push({ type: 'usage', usage: answer.usage })
  return chunks
}
