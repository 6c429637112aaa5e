/**
 * The slice of autocannon 8's programmatic API the benchmark uses (the package ships no types, and
 * `@types/autocannon` is not installed): https://github.com/mcollina/autocannon#api
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export type AutocannonOptions = {
    url: string
    method?: string
    headers?: Record<string, string>
    body?: string
    connections?: number
    /** Seconds. */
    duration?: number
    /** Requests to send in all, instead of a duration. */
    amount?: number
    /** Requests per second across all connections; each connection gets an equal share per one-second window. */
    overallRate?: number
    /** Seconds before a request counts as a timeout (and an error). */
    timeout?: number
    /** Called with the whole response body; `false` counts a mismatch. */
    verifyBody?: (body: string) => boolean
  }

  export type AutocannonResult = {
    /** Measured seconds. */
    duration: number
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    totalRequests: number
    totalCompletedRequests: number
    statusCodeStats: Record<string, { count: number }>
    /** Responses by status class. */
    '2xx': number
  }

  export type AutocannonInstance = EventEmitter &
    PromiseLike<AutocannonResult> & {
      stop(): void
    }

  const autocannon: (options: AutocannonOptions) => AutocannonInstance
  export default autocannon
}
