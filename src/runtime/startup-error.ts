/** A start-up problem the operator must fix: the CLI prints `errors`, one per line, and exits 1 (no stack trace). */
export class StartupError extends Error {
  override readonly name = 'StartupError'
  readonly errors: readonly string[]

  constructor(errors: readonly string[]) {
    super(errors.join('\n'))
    this.errors = errors
  }
}
