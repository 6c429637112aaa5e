/**
 * Log lines to stdout, written together once per event-loop turn instead of one `write` per line. On Linux a write
 * to a file or a pipe is a synchronous system call, and the gateway writes a usage line for every request: under
 * load, many requests end in the same turn, and their lines now cost one call. A line waits at most until the next
 * turn (`setImmediate`), a large backlog is written at once, and `flush()` empties the buffer at shutdown and on
 * `process.exit`.
 */
export type BatchedWriter = {
  write(line: string): void
  /** Writes whatever is buffered, now. */
  flush(): void
}

/** Above this many buffered characters, a line is written at once rather than at the end of the turn. */
const maxBufferedChars = 64 * 1024

export const createBatchedWriter = (write: (text: string) => void): BatchedWriter => {
  let pending: string[] = []
  let buffered = 0
  let scheduled = false
  const flush = (): void => {
    if (pending.length === 0) return
    const text = pending.length === 1 ? pending[0] : pending.join('')
    pending = []
    buffered = 0
    write(text)
  }
  const flushScheduled = (): void => {
    scheduled = false
    flush()
  }
  return {
    write: (line) => {
      pending.push(line)
      buffered += line.length
      if (buffered >= maxBufferedChars) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(flushScheduled)
      }
    },
    flush,
  }
}
