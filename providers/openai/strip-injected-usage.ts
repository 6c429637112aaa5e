/**
 * When the gateway asks an OpenAI-compatible upstream for `stream_options.include_usage` that the client did not ask
 * for (so that every streamed token is accounted for), the upstream adds `"usage":null` to every chunk and one last
 * chunk with `choices: []` and the usage. The client must receive what it would have received without the option
 * (wire-notes §1: the key is absent, and naive clients crash on `choices: []`), so this removes both from the bytes
 * after the side tap has read them. Incremental: events may be split anywhere across chunks; only complete events
 * (ending in a blank line) are rewritten, the rest waits for the next chunk.
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
 */
const eventEnd = /\r?\n\r?\n/g
const usageNull = /,\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,/g
const usageOnlyChunk = /"choices"\s*:\s*\[\s*\]/

export type UsageStripper = {
  /** The bytes to send for this chunk (possibly empty while an event is incomplete). */
  push(chunk: Uint8Array): Uint8Array
  /** What is left when the stream ends (an unterminated last event, passed through as it came). */
  end(): Uint8Array
}

const rewriteEvent = (event: string): string => {
  const data = event.trimStart()
  if (!data.startsWith('data:') || data.startsWith('data: [DONE]')) return event
  if (usageOnlyChunk.test(event) && !event.includes('"delta"')) return ''
  return event.replace(usageNull, '')
}

export const createUsageStripper = (): UsageStripper => {
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  let pending = ''
  return {
    push(chunk) {
      pending += decoder.decode(chunk, { stream: true })
      let out = ''
      let start = 0
      eventEnd.lastIndex = 0
      for (let match = eventEnd.exec(pending); match !== null; match = eventEnd.exec(pending)) {
        const end = match.index + match[0].length
        const rewritten = rewriteEvent(pending.slice(start, match.index))
        if (rewritten !== '') out += rewritten + match[0]
        start = end
      }
      pending = pending.slice(start)
      return encoder.encode(out)
    },
    end() {
      const rest = pending + decoder.decode()
      pending = ''
      return encoder.encode(rest)
    },
  }
}
