/**
 * Before any load: one plain and one streamed call through each target must come back as the mock's answer, and the
 * gateway must refuse a call without its key. Otherwise the benchmark would happily measure how fast something
 * answers errors, or a gateway running without auth.
 */
import { benchSettings, chatRequestBody } from './bench-settings.ts'
import { requestFor } from './bench-scenarios.ts'
import type { ClientApi } from './bench-scenarios.ts'
import { bodyProblems } from './load-common.ts'

/** `key` is what clients send: the master key for the proxies, the upstream key straight to the mock. */
export type PreflightTarget = {
  name: string
  url: string
  key: string
  requiresKey: boolean
  /**
   * A tenant key's requests per minute: the answer must carry it as `x-ratelimit-limit-requests`, proof that the
   * gateway checked the key's limits rather than let it through as the master key.
   */
  rateLimitRequests?: number
}

const post = (options: { url: string; stream: boolean; authorization?: string }) =>
  fetch(`${options.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
    },
    body: chatRequestBody({ stream: options.stream }),
  })

/** Throws, naming the target and what came back, at the first call that is not what the mock would answer. */
export const preflight = async (target: PreflightTarget): Promise<void> => {
  const authorization = `Bearer ${target.key}`
  const plain = await post({ url: target.url, stream: false, authorization })
  const plainText = await plain.text()
  const completion = plain.ok
    ? (JSON.parse(plainText) as { choices?: { message?: { content?: unknown } }[] })
    : undefined
  const content = completion?.choices?.[0]?.message?.content
  if (!plain.ok || typeof content !== 'string' || !content.startsWith('echo: ')) {
    throw new Error(
      `${target.name}: a chat completion did not come back from the mock: ${plain.status} ${plainText.slice(0, 500)}`
    )
  }
  if (target.rateLimitRequests !== undefined) {
    const limit = plain.headers.get('x-ratelimit-limit-requests')
    if (limit !== String(target.rateLimitRequests))
      throw new Error(
        `${target.name}: the answer's x-ratelimit-limit-requests is ${limit}, not the key's ${target.rateLimitRequests}: its limits were not checked`
      )
  }

  const streamed = await post({ url: target.url, stream: true, authorization })
  const streamedText = await streamed.text()
  const events = streamedText.split('\n\n').filter((event) => event.startsWith('data: '))
  if (
    !streamed.ok ||
    !(streamed.headers.get('content-type') ?? '').startsWith('text/event-stream') ||
    events.at(-1) !== 'data: [DONE]' ||
    events.length < benchSettings.streamChunks
  ) {
    throw new Error(
      `${target.name}: a streamed completion was not the mock's SSE stream: ${streamed.status} ${streamedText.slice(0, 500)}`
    )
  }

  if (target.requiresKey) {
    const anonymous = await post({ url: target.url, stream: false })
    await anonymous.text()
    if (anonymous.status !== 401)
      throw new Error(
        `${target.name}: a call without a key got ${anonymous.status}, not 401: auth is off`
      )
  }
}

/**
 * Before `streaming-converted`: one streamed call through each API the gateway converts to must come back whole
 * (`check-converted-stream.ts`), so that a route or config mistake is named at once rather than as a run of failures.
 */
export const preflightConversion = async (target: { url: string; key: string }): Promise<void> => {
  for (const api of ['responses', 'messages'] as const satisfies readonly ClientApi[]) {
    const request = requestFor({
      api,
      key: target.key,
      stream: true,
      includeUsage: true,
      verifyBodies: true,
    })
    const response = await fetch(`${target.url}${request.url}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    })
    const text = await response.text()
    const problem = request.verify === undefined ? null : bodyProblems[request.verify](text)
    if (!response.ok || problem !== null) {
      throw new Error(
        `gateway (${api}): a converted stream did not come back whole: ${response.status} ${problem ?? ''} ${text.slice(0, 500)}`
      )
    }
  }
}
