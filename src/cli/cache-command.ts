/**
 * `gatehouse cache purge|warm`: the prompt cache from a terminal. `purge` calls the admin API (the master key) with one
 * selector; `warm` sends a JSON Lines file of requests to the gateway's `/v1` routes with a tenant's key (the cache is
 * scoped per tenant, so an entry made with one tenant's key serves only that tenant), a few at a time, and prints what
 * the cache did with each: stored (a miss), already there (a hit), not cacheable (a bypass), or failed, by line. Any
 * failure makes the exit code 1, after the summary.
 */
import { readFile } from 'node:fs/promises'
import type { WireCachePurge } from '../api/admin/admin-schemas.ts'
import { readNumber } from './access-options.ts'
import type { CliContext } from './cli-context.ts'
import { CliError, usageError } from './cli-error.ts'
import { parseCommandLine } from './parse-command-line.ts'
import { warmCache, type WarmLineResult, type WarmOutcome } from './warm-cache.ts'

const group = 'cache'
const json = { json: { type: 'boolean' } } as const

/** Small: warming runs beside the gateway's real traffic, and each request may go upstream. */
export const defaultWarmConcurrency = 4
const maxWarmConcurrency = 64

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`

const describePurge = (purge: WireCachePurge, named: string): string => {
  const entries = `${purge.deleted} ${purge.deleted === 1 ? 'entry' : 'entries'}`
  if ('all' in purge.selector) return `Purged ${entries}: the whole cache.\n`
  return `Purged ${entries} ${'key' in purge.selector ? 'under key' : 'of'} ${named}.\n`
}

const purge = async (args: readonly string[], context: CliContext): Promise<void> => {
  const { values } = parseCommandLine(
    args,
    {
      ...json,
      key: { type: 'string' },
      tenant: { type: 'string' },
      model: { type: 'string' },
      all: { type: 'boolean' },
    },
    group
  )
  const given = (['key', 'tenant', 'model', 'all'] as const).filter(
    (name) => values[name] !== undefined && values[name] !== false
  )
  if (given.length !== 1)
    throw usageError(
      given.length === 0
        ? 'what to purge? --key <key>, --tenant <tenant>, --model <provider/model> or --all'
        : `one of --key, --tenant, --model or --all, not ${given.map((name) => `--${name}`).join(' and ')}`,
      group
    )
  const [selector] = given
  const answer =
    selector === 'key'
      ? await context.client.json<WireCachePurge>({
          method: 'DELETE',
          path: `/admin/v1/cache/entries/${encodeURIComponent(values.key!)}`,
        })
      : await context.client.json<WireCachePurge>({
          method: 'POST',
          path: '/admin/v1/cache/purge',
          body: selector === 'all' ? { all: true } : { [selector]: values[selector] },
        })
  context.out(
    values.json === true
      ? `${JSON.stringify(answer, null, 2)}\n`
      : describePurge(answer, selector === 'all' ? '' : String(values[selector]))
  )
}

const outcomeLabels: Record<WarmOutcome, string> = {
  miss: 'stored (miss)',
  hit: 'already cached (hit)',
  bypass: 'bypassed (not cached)',
  failed: 'failed',
}

const describeWarm = (file: string, results: readonly WarmLineResult[]): string => {
  const sent = results.filter((result) => result.status !== undefined).length
  const counts = (outcome: WarmOutcome) =>
    results.filter((result) => result.outcome === outcome).length
  const outcomes = ['miss', 'hit', 'bypass', 'failed'] as const
  const width = Math.max(...outcomes.map((outcome) => outcomeLabels[outcome].length))
  return [
    `${file}: ${plural(results.length, 'request')}, ${sent} sent`,
    ...outcomes.map(
      (outcome) => `  ${outcomeLabels[outcome].padEnd(width)}  ${String(counts(outcome))}`
    ),
    ...results
      .filter((result) => result.reason !== undefined)
      .map(
        (result) =>
          `line ${result.line}: ${result.outcome === 'failed' ? 'failed' : 'bypassed'}: ${result.reason}`
      ),
    '',
  ].join('\n')
}

const warm = async (args: readonly string[], context: CliContext): Promise<void> => {
  const { values, positionals } = parseCommandLine(
    args,
    { ...json, 'api-key': { type: 'string' }, concurrency: { type: 'string' } },
    group,
    ['file']
  )
  let concurrency = defaultWarmConcurrency
  if (values.concurrency !== undefined) {
    concurrency = readNumber(values.concurrency, 'concurrency', group)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > maxWarmConcurrency)
      throw usageError(
        `--concurrency: a whole number from 1 to ${maxWarmConcurrency}, not ${values.concurrency}`,
        group
      )
  }
  const apiKey = (values['api-key'] ?? context.env.GATEHOUSE_API_KEY)?.trim()
  if (!apiKey)
    throw new CliError(
      "set GATEHOUSE_API_KEY (or pass --api-key) to the key of the tenant whose cache to warm: the cache is scoped per tenant, so an answer stored with one tenant's key serves that tenant only"
    )
  const [file] = positionals
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`)
  }
  const results = await warmCache({
    text,
    baseUrl: context.client.baseUrl,
    apiKey,
    fetch: context.fetch,
    concurrency,
  })
  const failed = results.filter((result) => result.outcome === 'failed').length
  if (values.json === true) {
    const summary: Record<string, unknown> = {
      object: 'cache.warm',
      file,
      requests: results.length,
    }
    summary.sent = results.filter((result) => result.status !== undefined).length
    for (const outcome of ['miss', 'hit', 'bypass', 'failed'] as const)
      summary[outcome] = results.filter((result) => result.outcome === outcome).length
    summary.lines = results
    context.out(`${JSON.stringify(summary, null, 2)}\n`)
  } else context.out(describeWarm(file, results))
  if (results.length === 0) throw new CliError(`${file} has no requests`)
  if (failed > 0) throw new CliError(`${failed} of ${plural(results.length, 'request')} failed`)
}

export const runCacheCommand = async (
  args: readonly string[],
  context: CliContext
): Promise<void> => {
  const [action, ...rest] = args
  switch (action) {
    case 'purge':
      return purge(rest, context)
    case 'warm':
      return warm(rest, context)
    default:
      throw usageError(
        action === undefined ? 'which cache command?' : `unknown cache command: ${action}`,
        group
      )
  }
}
