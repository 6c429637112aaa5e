/**
 * What a converted Responses answer echoes from its request, and the ids it was given: the context the encoders
 * (`convert-to-responses-response.ts` for a whole answer, `encode-responses-sse.ts` for the event stream) build a
 * `Response` object from. The real API echoes the request's settings in every `Response` it sends (`tools`,
 * `tool_choice`, `temperature`...), and the OpenAPI document requires most of them, so a converted answer does too.
 * https://platform.openai.com/docs/api-reference/responses/object
 */

export type ResponsesContext = {
  /** `resp_…`, made by the gateway for a converted answer (the stored response's id when `store` is on). */
  responseId: string
  /** Unix seconds. */
  createdAt: number
  /** The client's request body, as validated: the source of every echoed setting. */
  body: Record<string, unknown>
  /**
   * A flattened function name back to the tool the client declared: functions of a `namespace` tool are sent to a
   * converted upstream as `<namespace>__<name>` and answered as `{namespace, name}`. Absent: names pass unchanged.
   */
  toolName?: (flattened: string) => { name: string; namespace?: string }
  /**
   * Called once with the finished `Response` (completed or incomplete, never a failed one), as sent: what `store`
   * keeps for `previous_response_id`, `item_reference` and `GET /v1/responses/{id}`. A stream's final event waits for
   * the promise it returns, so that a client that chains at once finds what was kept.
   */
  onFinished?: (response: Record<string, unknown>) => void | Promise<unknown>
}
