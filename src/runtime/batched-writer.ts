/**
 * Log lines to stdout, written together once per event-loop turn instead of one `write` per line. On Linux a write
 * to a file or a pipe is a synchronous system call, and the gateway writes a usage line for every request: under
 * load, many requests end in the same turn, and their lines now cost one call. A line waits at most until the next
 * turn (`setImmediate`), a large backlog is written at once, and `flush()` empties the buffer at shutdown and on
 * `process.exit`.
 *
 * Several processes on one stdout (the workers of `serve --workers`) set `maxWriteBytes`: lines then go out in writes
 * of at most that many bytes, split between lines. A pipe keeps a write of up to `PIPE_BUF` bytes (4096 on Linux)
 * whole, so no process's line is cut by another's; a longer write may be interleaved anywhere.
 * https://man7.org/linux/man-pages/man7/pipe.7.html
 */
export type BatchedWriter = {
  write(line: string): void
  /** Writes whatever is buffered, now. */
  flush(): void
}

/** Above this many buffered characters, a line is written at once rather than at the end of the turn. */
const maxBufferedChars = 64 * 1024

/** What a pipe on Linux writes whole (`PIPE_BUF`). */
export const pipeAtomicWriteBytes = 4096

/** `lines` in writes of at most `maxBytes` each, cut between lines (a longer line goes alone). */
const writeInPieces = (
  lines: readonly string[],
  maxBytes: number,
  write: (text: string) => void
): void => {
  let piece: string[] = []
  let pieceBytes = 0
  for (const line of lines) {
    const bytes = Buffer.byteLength(line)
    if (pieceBytes + bytes > maxBytes && piece.length > 0) {
      write(piece.join(''))
      piece = []
      pieceBytes = 0
    }
    piece.push(line)
    pieceBytes += bytes
  }
  if (piece.length > 0) write(piece.join(''))
}

export const createBatchedWriter = (
  write: (text: string) => void,
  options: { maxWriteBytes?: number } = {}
): BatchedWriter => {
  const { maxWriteBytes } = options
  let pending: string[] = []
  let buffered = 0
  let scheduled = false
  const flush = (): void => {
    if (pending.length === 0) return
    const lines = pending
    pending = []
    buffered = 0
    if (maxWriteBytes !== undefined) writeInPieces(lines, maxWriteBytes, write)
    else write(lines.length === 1 ? lines[0] : lines.join(''))
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
