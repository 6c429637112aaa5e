import { parseArgs, type ParseArgsConfig } from 'node:util'
import { usageError } from './cli-error.ts'

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * `node:util`'s `parseArgs`, strict, with its errors (an unknown option, a missing value) turned into the CLI's usage
 * error for `group`, and the positionals checked against `positionals` (their names, for the message).
 */
export const parseCommandLine = <O extends Options>(
  args: readonly string[],
  options: O,
  group: string,
  positionals: readonly string[] = []
) => {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true })
  } catch (error) {
    throw usageError((error as Error).message.replace(/\s*\n\s*/g, ' '), group)
  }
  if (parsed.positionals.length !== positionals.length)
    throw usageError(
      positionals.length === 0
        ? `unexpected argument: ${parsed.positionals[0]}`
        : parsed.positionals.length < positionals.length
          ? `missing ${positionals
              .slice(parsed.positionals.length)
              .map((name) => `<${name}>`)
              .join(' ')}`
          : `unexpected argument: ${parsed.positionals[positionals.length]}`,
      group
    )
  return parsed
}
