/**
 * Before a prompt cache scenario: its cache gateway must answer the scenario's request with the mock's answer and
 * store it, so that the first measured request is already a hit (the smoke test has no warm-up), and prove it: the
 * first call says `x-gatehouse-cache: miss` (or `hit`, when an earlier scenario stored the same request), the next
 * one `hit` without reaching the mock, and a request the cache has never seen `miss` (and reaches it).
 */
import { bodyProblems } from './load-common.ts'

const call = async (options: { url: string; key: string; body: string }) => {
  const response = await fetch(`${options.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.key}`, 'content-type': 'application/json' },
    body: options.body,
  })
  const text = await response.text()
  return { status: response.status, text, cache: response.headers.get('x-gatehouse-cache') }
}

export const primeCache = async (options: {
  name: string
  url: string
  key: string
  /** The scenario's hit request, and a request no other has been. */
  hitBody: string
  missBody: string
  countMockRequests: () => Promise<number>
}): Promise<void> => {
  const { name } = options
  const expect = async (body: string, allowed: readonly string[], upstreamCalls: number) => {
    const before = await options.countMockRequests()
    const answer = await call({ url: options.url, key: options.key, body })
    const calls = (await options.countMockRequests()) - before
    const problem =
      answer.status !== 200
        ? `status ${answer.status}`
        : (bodyProblems['exact-json'](answer.text) ??
          (allowed.includes(answer.cache ?? '')
            ? null
            : `x-gatehouse-cache: ${answer.cache ?? '(none)'} where ${allowed.join(' or ')} was expected`) ??
          (upstreamCalls >= 0 && calls !== upstreamCalls
            ? `${calls} calls reached the mock where ${upstreamCalls} should have`
            : null))
    if (problem !== null)
      throw new Error(
        `${name}: the cache gateway did not answer as a cache: ${problem}: ${answer.text.slice(0, 300)}`
      )
  }
  // -1: a miss reaches the mock, a first hit (stored by an earlier scenario) does not.
  await expect(options.hitBody, ['miss', 'hit'], -1)
  await expect(options.hitBody, ['hit'], 0)
  await expect(options.missBody, ['miss'], 1)
}
