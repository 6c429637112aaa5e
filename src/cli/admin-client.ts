/**
 * The CLI's side of the admin API: one authenticated request at a time to a running gateway (`GATEHOUSE_URL`, the
 * master key from `GATEHOUSE_MASTER_KEY`). An error answer becomes a `CliError` carrying the gateway's own message,
 * the status and the field it named, on one line. Without a master key the client is still made, and its first
 * request fails saying so: a command that calls no admin route (`cache warm`) needs none.
 */
import { CliError } from './cli-error.ts'

export const defaultGatewayUrl = 'http://127.0.0.1:8080'

export type AdminRequest = {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  path: string
  query?: Record<string, string | undefined>
  body?: unknown
  /**
   * What the person typed for each field of the body (`limits.tpm` → `--tpm`): a refusal naming a field is told
   * in the command line's words (`describeFailure`).
   */
  options?: FieldOptions
}

/** API field (a path of the body, its members included: `allowed_models` covers `allowed_models.0`) → option. */
export type FieldOptions = Readonly<Record<string, string>>

/** The option that gave `param`, the longest field of `options` that is it or holds it. */
const optionFor = (
  param: string,
  options: FieldOptions
): { field: string; option: string } | null => {
  let found: { field: string; option: string } | null = null
  for (const [field, option] of Object.entries(options))
    if (
      (param === field || param.startsWith(`${field}.`)) &&
      (found === null || field.length > found.field.length)
    )
      found = { field, option }
  return found
}

export type AdminClient = {
  readonly baseUrl: string
  /** The parsed JSON answer of a 2xx. */
  json<T = unknown>(request: AdminRequest): Promise<T>
  /** The text of a 2xx (CSV). */
  text(request: AdminRequest): Promise<string>
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()

/**
 * `{error: {message, param}}` (OpenAI's shape, what the gateway answers; Anthropic's has the message in the same place)
 * or whatever else came back.
 */
export const describeFailure = (
  status: number,
  text: string,
  options: FieldOptions = {}
): string => {
  let message = oneLine(text).slice(0, 300) || 'no message'
  let param: string | null = null
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; param?: unknown } }
    if (typeof parsed.error?.message === 'string') message = oneLine(parsed.error.message)
    if (typeof parsed.error?.param === 'string') param = parsed.error.param
  } catch {
    // Not JSON (a proxy's page): its text is the message.
  }
  const given = param === null ? null : optionFor(param, options)
  if (given === null)
    return `${message} (HTTP ${status}${param === null ? '' : `, field ${param}`})`
  // The gateway's message names fields as `limits.tpm: …`, each part of it after a `; `: told as the option instead.
  const parts = message
    .replace(/^Invalid request body: /, '')
    .split('; ')
    .map((part) => {
      const named = /^([\w.]+): /.exec(part)
      const option = named === null ? null : optionFor(named[1], options)
      return option === null ? part : `${option.option}: ${part.slice(named![0].length)}`
    })
  const told = parts.join('; ')
  return `${told.startsWith(given.option) ? told : `${given.option}: ${told}`} (HTTP ${status})`
}

/** What the gateway is asked from, and how: `fetch` fails with a cause (`ECONNREFUSED`) that says more than itself. */
export const unreachable = (baseUrl: string, error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  return `cannot reach the gateway at ${baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message} (set GATEHOUSE_URL)`
}

export const createAdminClient = (options: {
  baseUrl: string
  masterKey: string | undefined
  fetch: typeof fetch
}): AdminClient => {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')

  const send = async (request: AdminRequest): Promise<string> => {
    if (!options.masterKey)
      throw new CliError(
        "set GATEHOUSE_MASTER_KEY to the gateway's master key (one the gateway generated is in its ./data/master-key)"
      )
    const url = new URL(`${baseUrl}${request.path}`)
    for (const [name, value] of Object.entries(request.query ?? {}))
      if (value !== undefined) url.searchParams.set(name, value)
    const headers: Record<string, string> = { authorization: `Bearer ${options.masterKey}` }
    if (request.body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await options.fetch(url, {
        method: request.method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      })
    } catch (error) {
      throw new CliError(unreachable(baseUrl, error))
    }
    const text = await response.text()
    if (!response.ok) throw new CliError(describeFailure(response.status, text, request.options))
    return text
  }

  return {
    baseUrl,
    json: async <T>(request: AdminRequest) => {
      const text = await send(request)
      try {
        return JSON.parse(text) as T
      } catch {
        throw new CliError(`the gateway at ${baseUrl} answered something that is not JSON`)
      }
    },
    text: send,
  }
}
