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
export const describeFailure = (status: number, text: string): string => {
  let message = oneLine(text).slice(0, 300) || 'no message'
  let param: string | null = null
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; param?: unknown } }
    if (typeof parsed.error?.message === 'string') message = oneLine(parsed.error.message)
    if (typeof parsed.error?.param === 'string') param = parsed.error.param
  } catch {
    // Not JSON (a proxy's page): its text is the message.
  }
  return `${message} (HTTP ${status}${param === null ? '' : `, field ${param}`})`
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
    if (!response.ok) throw new CliError(describeFailure(response.status, text))
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
