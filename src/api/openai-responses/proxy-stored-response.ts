/**
 * Retrieve, delete, cancel and list the input items of a response an upstream stored (one the gateway forwarded to
 * OpenAI): the request goes to the provider instance that created it, with that instance's credential, and its answer
 * comes back as the upstream sent it: its status and JSON body, or with `stream=true` (a background response) its
 * event stream. A failure is the upstream's error (message, type, code and param kept, secrets redacted) in OpenAI's shape,
 * decided by `mapProviderError` as for a forwarded create. One attempt, within the provider's timeouts (connect,
 * first byte, total): the gateway does not retry it, the client may.
 * https://platform.openai.com/docs/api-reference/responses/get
 */
import type { Context } from 'hono'
import type {
  AbortHandle,
  ChunkReader,
  ForwardResponse,
  StoredObjectRequest,
  UpstreamResponse,
} from '../../../providers/spec/provider-adapter.ts'
import { ProviderError } from '../../../providers/spec/provider-error.ts'
import { bodyReader, readResponseBytes } from '../../../providers/shared/read-response-bytes.ts'
import type { Clock } from '../../core/clock.ts'
import { createDeadline } from '../../core/deadline.ts'
import { mapProviderError } from '../../core/map-provider-error.ts'
import type { ProviderEntry } from '../../core/provider-registry.ts'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'
import { takeRequestIdHeaders } from '../../middleware/request-context.ts'
import { copyUpstreamHeaders } from '../../core/upstream-headers.ts'
import { createEchoRewrite, echoIntoBody } from '../echo-forwarded.ts'

/** The query parameters each call passes on (the API's own; anything else stays here). */
export const storedQueryParameters = {
  retrieve: ['include', 'include[]', 'stream', 'starting_after', 'include_obfuscation'],
  delete: [],
  cancel: [],
  input_items: ['after', 'limit', 'order', 'include', 'include[]'],
} as const

/** The client's query parameters named in `allowed`, in the order sent, repeated ones (`include[]`) included. */
export const pickQuery = (url: string, allowed: readonly string[]): [string, string][] => {
  const search = new URL(url).searchParams
  const picked: [string, string][] = []
  search.forEach((value, name) => {
    if (allowed.includes(name)) picked.push([name, value])
  })
  return picked
}

/** Reads a stream on the side, as it goes to the client (never throws, never delays it). */
export type StreamObserver = { write(chunk: Uint8Array): void; end(): void }

/** Rewrites what reaches the client, not what the observer reads (`ForwardResponse.createClientRewrite`). */
type ClientRewrite = ReturnType<NonNullable<ForwardResponse['createClientRewrite']>>

/** An upstream event stream handed to the client, its timers released when it ends or the client leaves. */
const streamThrough = (
  reader: ChunkReader<Uint8Array>,
  release: () => void,
  observer: StreamObserver | undefined,
  rewrite: ClientRewrite | undefined
) =>
  new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          release()
          observer?.end()
          const rest = rewrite?.end()
          if (rest !== undefined && rest.byteLength > 0) controller.enqueue(rest)
          controller.close()
        } else {
          observer?.write(value)
          const out = rewrite === undefined ? value : rewrite.push(value)
          if (out.byteLength > 0) controller.enqueue(out)
        }
      } catch (error) {
        release()
        controller.error(error)
      }
    },
    async cancel(reason) {
      release()
      await reader.cancel(reason).catch(() => {})
    },
  })

export const proxyStoredResponse = async (options: {
  deps: Pick<Deps, 'clientSignal'> & { clock: Clock }
  c: Context<GatewayEnv>
  provider: ProviderEntry
  request: StoredObjectRequest
  /** Reads an event stream's chunks as they go to the client (a streamed retrieve). */
  observeStream?: StreamObserver
  /**
   * Fields the client's answer echoes where the upstream's has `null` (`echo-forwarded.ts`): a response forwarded
   * with its chain expanded, whose upstream never saw the `previous_response_id` (2xx answers only).
   */
  echo?: Record<string, unknown>
}): Promise<{
  status: number
  response: Response
  /** The upstream's body when it was read whole (not an event stream): what `response` carries. */
  body?: Uint8Array
}> => {
  const { c, provider, request } = options
  const { adapter, config } = provider
  let echo: Record<string, unknown> | undefined
  const { timeouts } = config
  const deadline = createDeadline({
    clock: options.deps.clock,
    totalMs: timeouts.totalMs,
    signal: options.deps.clientSignal(c.req.raw, c.env),
  })
  const scope = deadline.startAttempt({ firstByteMs: timeouts.firstByteMs, providerId: config.id })
  const release = (): void => {
    scope.dispose()
    deadline.dispose()
  }
  let streamed = false
  try {
    if (adapter.requestStored === undefined)
      throw new ProviderError({
        kind: 'unsupported',
        status: 400,
        message: `The provider \`${config.id}\` keeps no stored responses.`,
        providerId: config.id,
      })
    const upstream: UpstreamResponse = await scope.race(
      adapter.requestStored(request, {
        signal: scope.signal,
        requestId: c.get('requestId'),
        connectTimeoutMs: timeouts.connectMs,
      }),
      (late) => void late.body.cancel().catch(() => {})
    )
    scope.firstByteReceived()
    if (upstream.status >= 200 && upstream.status < 300) echo = options.echo
    const contentType = upstream.headers.get('content-type') ?? 'application/json'
    const headers = takeRequestIdHeaders(c)
    headers['content-type'] = contentType
    headers['x-gatehouse-provider'] = config.id
    copyUpstreamHeaders(headers, upstream.headers, c.get('principal')?.access != null)
    if (contentType.startsWith('text/event-stream')) {
      streamed = true
      headers['cache-control'] = 'no-cache'
      return {
        status: upstream.status,
        response: new Response(
          streamThrough(
            bodyReader(upstream),
            release,
            options.observeStream,
            echo === undefined ? undefined : createEchoRewrite(echo)()
          ),
          {
            status: upstream.status,
            headers,
          }
        ),
      }
    }
    const read = await scope.race(readResponseBytes(upstream))
    const body = echo === undefined ? read : echoIntoBody(read, echo)
    return {
      status: upstream.status,
      response: new Response(body as Uint8Array<ArrayBuffer>, { status: upstream.status, headers }),
      body,
    }
  } catch (error) {
    throw error instanceof ProviderError ? mapProviderError(error, { attempts: null }) : error
  } finally {
    if (!streamed) release()
  }
}

/**
 * Asks the provider that stored an object about it and reads the answer whole, for the gateway's own use (the
 * background poller, a delete that first learns whether the response finished): one attempt within the provider's
 * timeouts, and at most `timeoutMs`. A non-2xx answer throws, as for a client's call: `ProviderError`s are mapped to
 * the `GatewayError` the client would get (a 404 stays a 404).
 */
export const fetchStoredObject = async (options: {
  provider: ProviderEntry
  request: StoredObjectRequest
  clock: Clock
  /** Aborts the call (shutdown). */
  signal: AbortHandle
  requestId: string
  timeoutMs: number
}): Promise<{ status: number; body: Uint8Array }> => {
  const { adapter, config } = options.provider
  const { timeouts } = config
  const deadline = createDeadline({
    clock: options.clock,
    totalMs: Math.min(timeouts.totalMs, options.timeoutMs),
    signal: options.signal,
  })
  const scope = deadline.startAttempt({
    firstByteMs: Math.min(timeouts.firstByteMs, options.timeoutMs),
    providerId: config.id,
  })
  try {
    if (adapter.requestStored === undefined)
      throw new ProviderError({
        kind: 'unsupported',
        status: 400,
        message: `The provider \`${config.id}\` keeps no stored responses.`,
        providerId: config.id,
      })
    const upstream = await scope.race(
      adapter.requestStored(options.request, {
        signal: scope.signal,
        requestId: options.requestId,
        connectTimeoutMs: timeouts.connectMs,
      }),
      (late) => void late.body.cancel().catch(() => {})
    )
    scope.firstByteReceived()
    return { status: upstream.status, body: await scope.race(readResponseBytes(upstream)) }
  } catch (error) {
    throw error instanceof ProviderError ? mapProviderError(error, { attempts: null }) : error
  } finally {
    scope.dispose()
    deadline.dispose()
  }
}

/** A body's JSON, or `undefined` when it is none. */
export const parseJsonBody = (body: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(body))
  } catch {
    return undefined
  }
}
