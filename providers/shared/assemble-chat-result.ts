/**
 * Canonical stream chunks → the `ChatResult` a non-streamed call would have answered, for the prompt cache: a streamed
 * answer must be able to serve a later non-streamed request, and the other way round. The parts keep the order the
 * model produced them in (reasoning, text, refusal, tool calls, text again), adjacent deltas of one kind joined into one
 * part (a refusal stays a part of its own, never joined to text),
 * as the non-streamed converters join adjacent text blocks. Tool-call fragments join their call by `index` wherever it
 * sits, so parallel calls whose fragments interleave come out whole.
 */
import {
  emptyUsage,
  type ChatChoice,
  type ChatChunk,
  type ChatResult,
  type FinishReason,
  type ToolCallPart,
  type Usage,
} from '../spec/chat-types.ts'

type ChoiceState = {
  content: ChatChoice['content']
  /** Each tool call by its index within the choice; the part itself sits in `content`. */
  toolCalls: Map<number, ToolCallPart>
  finishReason: FinishReason | null
}

/** What the chunks pushed so far hold, complete or not (`ChatResultAssembler.snapshot`). */
export type AssembledSoFar = {
  /** The `start` chunk has come. */
  started: boolean
  /** Each choice's parts so far (the last may still grow) and whether its finish has come. */
  choices: ReadonlyMap<number, { content: ChatChoice['content']; finished: boolean }>
}

export type ChatResultAssembler = {
  push(chunk: ChatChunk): void
  /** The parts so far: what a client that was sent these chunks has seen (the prompt cache resumes from it). */
  snapshot(): AssembledSoFar
  /**
   * The complete answer, or `null` when the chunks did not hold one: no `start`, no choice, a choice without its
   * finish, or content before the `start`. An incomplete answer is never reported as complete.
   */
  finish(): ChatResult | null
}

const choiceOf = (choices: Map<number, ChoiceState>, index: number): ChoiceState => {
  let choice = choices.get(index)
  if (choice === undefined) {
    choice = { content: [], toolCalls: new Map(), finishReason: null }
    choices.set(index, choice)
  }
  return choice
}

const addText = (choice: ChoiceState, type: 'text' | 'refusal', delta: string): void => {
  if (delta === '') return
  const last = choice.content.at(-1)
  if (last?.type === type) last.text += delta
  else choice.content.push({ type, text: delta })
}

/**
 * A signature closes a thinking block (Anthropic sends it last), so reasoning after a signed part starts a new part:
 * each block keeps the signature that must be replayed with it.
 */
const addReasoning = (
  choice: ChoiceState,
  delta: string,
  signature: string | undefined,
  redactedData: string | undefined
): void => {
  if (redactedData !== undefined) {
    choice.content.push({ type: 'reasoning', text: '', redactedData })
    return
  }
  if (delta === '' && !signature) return
  const last = choice.content.at(-1)
  if (
    last?.type === 'reasoning' &&
    last.signature === undefined &&
    last.redactedData === undefined
  ) {
    last.text += delta
    if (signature) last.signature = signature
    return
  }
  choice.content.push(
    signature ? { type: 'reasoning', text: delta, signature } : { type: 'reasoning', text: delta }
  )
}

const addToolCall = (
  choice: ChoiceState,
  chunk: Extract<ChatChunk, { type: 'tool-call-delta' }>
): void => {
  const call = choice.toolCalls.get(chunk.index)
  if (call !== undefined) {
    call.arguments += chunk.argumentsDelta
    return
  }
  const part: ToolCallPart = {
    type: 'tool-call',
    id: chunk.id ?? '',
    name: chunk.name ?? '',
    arguments: chunk.argumentsDelta,
  }
  choice.toolCalls.set(chunk.index, part)
  choice.content.push(part)
}

export const createChatResultAssembler = (): ChatResultAssembler => {
  let start: Extract<ChatChunk, { type: 'start' }> | null = null
  let usage: Usage | null = null
  let contentBeforeStart = false
  const choices = new Map<number, ChoiceState>()
  return {
    push(chunk) {
      switch (chunk.type) {
        case 'start':
          if (start !== null) return
          start = chunk
          if (chunk.usage) usage = chunk.usage
          return
        case 'usage':
          usage = chunk.usage
          return
        default:
          if (start === null) contentBeforeStart = true
      }
      switch (chunk.type) {
        case 'text-delta':
          addText(choiceOf(choices, chunk.choiceIndex), 'text', chunk.delta)
          return
        case 'refusal-delta':
          addText(choiceOf(choices, chunk.choiceIndex), 'refusal', chunk.delta)
          return
        case 'reasoning-delta':
          addReasoning(
            choiceOf(choices, chunk.choiceIndex),
            chunk.delta,
            chunk.signature,
            chunk.redactedData
          )
          return
        case 'tool-call-delta':
          addToolCall(choiceOf(choices, chunk.choiceIndex), chunk)
          return
        case 'finish':
          choiceOf(choices, chunk.choiceIndex).finishReason = chunk.finishReason
      }
    },
    snapshot() {
      const out = new Map<number, { content: ChatChoice['content']; finished: boolean }>()
      for (const [index, choice] of choices)
        out.set(index, { content: choice.content, finished: choice.finishReason !== null })
      return { started: start !== null, choices: out }
    },
    finish() {
      if (start === null || contentBeforeStart || choices.size === 0) return null
      const out: ChatChoice[] = []
      for (const [index, choice] of choices) {
        if (choice.finishReason === null) return null
        out.push({ index, content: choice.content, finishReason: choice.finishReason })
      }
      out.sort((a, b) => a.index - b.index)
      return {
        id: start.id,
        model: start.model,
        created: start.created,
        choices: out,
        usage: usage ?? emptyUsage(),
      }
    },
  }
}
