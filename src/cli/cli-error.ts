/**
 * What ends a CLI command with a message on one line and a non-zero exit: 1 when the gateway refused or could not be
 * reached, 2 when the command line itself is wrong (as `gatehouse` does for an unknown command).
 */
export class CliError extends Error {
  override readonly name = 'CliError'
  readonly exitCode: number

  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export const usageError = (message: string, group?: string): CliError =>
  new CliError(`${message} (see \`gatehouse ${group === undefined ? '' : `${group} `}--help\`)`, 2)
