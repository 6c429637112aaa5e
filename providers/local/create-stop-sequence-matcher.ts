/**
 * Stop sequences, matched on the decoded text as OpenAI and Anthropic do: the answer ends before the first one that
 * appears, which is not part of it. Text that may be the start of a stop sequence is held back until the next piece
 * shows whether it is, so a streamed answer never shows the beginning of a stop sequence it then takes back.
 */
export type StopSequenceMatcher = {
  /** The text that can be shown now, and the stop sequence found (`null`: none yet; generation goes on). */
  push(text: string): { text: string; stop: string | null }
  /** The text held back, once generation has ended another way. */
  flush(): string
}

export const createStopSequenceMatcher = (stops: readonly string[]): StopSequenceMatcher => {
  let held = ''
  return {
    push(text) {
      held += text
      let found: { at: number; stop: string } | null = null
      for (const stop of stops) {
        const at = held.indexOf(stop)
        if (at !== -1 && (found === null || at < found.at)) found = { at, stop }
      }
      if (found !== null) {
        const shown = held.slice(0, found.at)
        held = ''
        return { text: shown, stop: found.stop }
      }
      let keep = 0
      for (const stop of stops) {
        for (let length = Math.min(stop.length - 1, held.length); length > keep; length -= 1) {
          if (held.endsWith(stop.slice(0, length))) {
            keep = length
            break
          }
        }
      }
      const shown = held.slice(0, held.length - keep)
      held = held.slice(held.length - keep)
      return { text: shown, stop: null }
    },
    flush() {
      const rest = held
      held = ''
      return rest
    },
  }
}
