/**
 * A streamed follower whose leader's stream broke off after the follower had been sent part of it. The follower never
 * receives the leader's error: it goes upstream itself (`own`: the same request, not streamed) and its stream goes on
 * with what that answer adds to what it has already been sent, part by part (text, refusal, reasoning, tool-call arguments,
 * each choice's finish, then the usage). Tool calls keep the ids the client was already given.
 *
 * An answer that does not continue what was sent (the model answered otherwise this time: a part of another kind, or
 * text that is not the same up to where the leader broke off) cannot be joined to it, since what was sent cannot be
 * taken back; only then does the follower's stream end with an error (`answerDiverged`), as a broken stream would.
 */
import {
  createChatResultAssembler,
  type AssembledSoFar,
} from '../../../providers/shared/assemble-chat-result.ts'
import type { ChatChunk, ChatResult } from '../../../providers/spec/chat-types.ts'
import type { ChunkReader } from '../../../providers/spec/provider-adapter.ts'
import { GatewayError } from '../errors.ts'
import { chunkOfPart, chunksOfAnswer } from './answer-chunks.ts'
import { isLeaderBrokeOff } from './single-flight.ts'

export const answerDiverged = (): GatewayError =>
  new GatewayError(
    'upstream',
    'The upstream stream this answer was shared from broke off, and the answer fetched again does not continue it.'
  )

type Part = ChatResult['choices'][number]['content'][number]

/** The text a part grows by: its text, or a tool call's arguments. */
const grown = (part: Part): string => (part.type === 'tool-call' ? part.arguments : part.text)

/** Whether `part`, as fetched again, is `sent` (whole, or up to where it was cut when `partial`). */
const continues = (sent: Part, part: Part, partial: boolean): boolean => {
  if (sent.type !== part.type) return false
  if (sent.type === 'tool-call' && part.type === 'tool-call' && sent.name !== part.name)
    return false
  if (sent.type === 'reasoning' && sent.signature !== undefined && !partial)
    return part.type === 'reasoning' && part.signature === sent.signature && part.text === sent.text
  return partial ? grown(part).startsWith(grown(sent)) : grown(part) === grown(sent)
}

/**
 * The chunks that take a client from what it was sent (`sent`) to `answer` whole; `null` when `answer` does not
 * continue it.
 */
export const remainderAfter = (sent: AssembledSoFar, answer: ChatResult): ChatChunk[] | null => {
  const full = chunksOfAnswer(answer)
  const out: ChatChunk[] = []
  if (!sent.started) out.push(full[0])
  for (const [index] of sent.choices)
    if (!answer.choices.some((choice) => choice.index === index)) return null
  for (const choice of answer.choices) {
    const choiceIndex = choice.index
    const was = sent.choices.get(choiceIndex)
    const before = was?.content ?? []
    if (before.length > choice.content.length) return null
    let toolIndex = 0
    for (let position = 0; position < choice.content.length; position += 1) {
      const part = choice.content[position]
      const sentPart = before[position]
      const index = toolIndex
      if (part.type === 'tool-call') toolIndex += 1
      if (sentPart === undefined) {
        out.push(chunkOfPart(part, choiceIndex, index))
        continue
      }
      const last = position === before.length - 1 && was?.finished !== true
      if (!continues(sentPart, part, last)) return null
      if (!last) continue
      const rest = grown(part).slice(grown(sentPart).length)
      if (part.type === 'text') {
        if (rest !== '') out.push({ type: 'text-delta', choiceIndex, delta: rest })
      } else if (part.type === 'refusal') {
        if (rest !== '') out.push({ type: 'refusal-delta', choiceIndex, delta: rest })
      } else if (part.type === 'reasoning') {
        if (
          rest !== '' ||
          (part.signature !== undefined &&
            sentPart.type === 'reasoning' &&
            sentPart.signature === undefined)
        )
          out.push(
            part.signature === undefined
              ? { type: 'reasoning-delta', choiceIndex, delta: rest }
              : { type: 'reasoning-delta', choiceIndex, delta: rest, signature: part.signature }
          )
      } else if (rest !== '') {
        out.push({ type: 'tool-call-delta', choiceIndex, index, argumentsDelta: rest })
      }
    }
    if (was?.finished !== true)
      out.push({ type: 'finish', choiceIndex, finishReason: choice.finishReason })
  }
  out.push(full[full.length - 1])
  return out
}

/**
 * The follower's reader: the leader's chunks while they come; if the leader breaks off, `own()`'s answer from where
 * the leader stopped. `own` is called at most once, and only then; its failure ends the stream with its own error.
 */
export const resumeAfterLeader = (options: {
  leader: ChunkReader<ChatChunk>
  own: () => Promise<ChatResult>
}): ChunkReader<ChatChunk> => {
  const sent = createChatResultAssembler()
  let rest: ChatChunk[] | null = null
  let next = 0
  let cancelled = false
  return {
    async read() {
      if (rest === null) {
        try {
          const result = await options.leader.read()
          if (!result.done) sent.push(result.value)
          return result
        } catch (error) {
          if (!isLeaderBrokeOff(error) || cancelled) throw error
        }
        const answer = await options.own()
        const remainder = remainderAfter(sent.snapshot(), answer)
        if (remainder === null) throw answerDiverged()
        rest = remainder
      }
      if (cancelled || next >= rest.length) return { done: true, value: undefined }
      next += 1
      return { done: false, value: rest[next - 1] }
    },
    async cancel(reason) {
      cancelled = true
      await options.leader.cancel(reason)
    },
  }
}
