/**
 * The mark of reasoning the gateway carries in a Responses reasoning item's `encrypted_content` (an Anthropic
 * thinking signature, put there by the Responses encoder of `src/api/openai-responses/reasoning-content.ts`). Such an
 * item must never reach OpenAI, which could not decrypt it and would refuse the request; the OpenAI adapter leaves it
 * out of a forwarded Responses request (a conversation that moved to OpenAI after a fallback).
 */
export const gatewayReasoningPrefix = 'gatehouse:reasoning:'

/** A Responses input item the gateway's own reasoning filled (see above). */
export const isGatewayReasoningItem = (item: unknown): boolean => {
  if (typeof item !== 'object' || item === null) return false
  const { type, encrypted_content: content } = item as {
    type?: unknown
    encrypted_content?: unknown
  }
  return (
    type === 'reasoning' &&
    typeof content === 'string' &&
    content.startsWith(gatewayReasoningPrefix)
  )
}
