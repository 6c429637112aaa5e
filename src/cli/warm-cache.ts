/**
 * `gatehouse cache warm`'s work: each line of a JSON Lines file sent to the gateway as an ordinary client request,
 * with the caller's key and at most `concurrency` in flight, and what the gateway's `x-gatehouse-cache` said of it.
 * A line that cannot be read is a failure of its own and the others still run. The gateway answers each request
 * whole (streaming is off) and stores a miss's answer after it, so a line's outcome is known from its response.
 */
import { describeFailure, unreachable } from './admin-client.ts'
import { parseWarmLine } from './parse-warm-line.ts'

export type WarmOutcome = 'miss' | 'hit' | 'bypass' | 'failed'

export type WarmLineResult = {
  /** 1-based, as an editor numbers the file's lines. */
  line: number
  outcome: WarmOutcome
  /** The gateway's status; absent when nothing was sent. */
  status?: number
  /** `x-gatehouse-cache-key`, when the gateway gave one (for `gatehouse cache purge --key`). */
  key?: string
  /** Why it failed, or why the cache held nothing for it. */
  reason?: string
}

export type WarmCacheOptions = {
  /** The file's text. */
  text: string
  baseUrl: string
  /** The tenant key (or the master key) the requests are sent with: the cache is scoped by it. */
  apiKey: string
  fetch: typeof fetch
  concurrency: number
}

/** A response without `x-gatehouse-cache`: the route's cache is off, or the cache does not hold this operation. */
const notCachedHere = 'the cache is off for its route, or does not hold this endpoint'

const sendLine = async (
  line: number,
  text: string,
  options: WarmCacheOptions
): Promise<WarmLineResult> => {
  const parsed = parseWarmLine(text)
  if ('error' in parsed) return { line, outcome: 'failed', reason: parsed.error }
  const { path, body, headers } = parsed.request
  let response: Response
  try {
    response = await options.fetch(`${options.baseUrl}${path}`, {
      method: 'POST',
      headers: {
        ...headers,
        authorization: `Bearer ${options.apiKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    })
  } catch (error) {
    return { line, outcome: 'failed', reason: unreachable(options.baseUrl, error) }
  }
  const answer = await response.text()
  if (!response.ok)
    return {
      line,
      outcome: 'failed',
      status: response.status,
      reason: describeFailure(response.status, answer),
    }
  const result: WarmLineResult = { line, outcome: 'bypass', status: response.status }
  const key = response.headers.get('x-gatehouse-cache-key')
  if (key !== null) result.key = key
  const said = response.headers.get('x-gatehouse-cache')
  if (said === 'miss' || said === 'hit') result.outcome = said
  else
    result.reason = said === 'bypass' ? 'not cacheable (its parameters or headers)' : notCachedHere
  return result
}

/** Every non-blank line's result, in file order. */
export const warmCache = async (options: WarmCacheOptions): Promise<WarmLineResult[]> => {
  // An editor's byte order mark is not part of the first line's JSON.
  const lines = options.text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((text, index) => ({ line: index + 1, text }))
    .filter((entry) => entry.text.trim() !== '')
  const results: WarmLineResult[] = new Array(lines.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < lines.length) {
      const index = next
      next += 1
      results[index] = await sendLine(lines[index].line, lines[index].text, options)
    }
  }
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, lines.length) }, () => worker())
  )
  return results
}
