/**
 * What a converted upstream needs back from a reasoning item in a later turn, carried in the item's `encrypted_content`
 * (https://platform.openai.com/docs/api-reference/responses/object#responses/object-output, the field OpenAI uses for
 * the same purpose). Anthropic signs each thinking block and requires it verbatim when the conversation is sent again
 * (a `redacted_thinking` block has only opaque data): without it a tool loop with thinking on is refused.
 *
 * Format, versioned and self-describing: `gatehouse:reasoning:v1:` followed by the base64url (no padding) of the UTF-8
 * JSON `{"signature"?: string, "redactedData"?: string}`. It is encoded, not encrypted: the signature and the redacted
 * data are already opaque, and Anthropic verifies them itself, so a forged value gains nothing. The prefix tells the
 * gateway's own values from OpenAI's real encrypted reasoning, which must go to OpenAI unchanged (and which a converted
 * upstream cannot use: the decoder returns `null` for it).
 */
import type { ReasoningPart } from '../../../providers/spec/chat-types.ts'
import { gatewayReasoningPrefix as prefix } from '../../../providers/spec/gateway-reasoning.ts'
const version = 'v1'

export type ReasoningReplay = { signature?: string; redactedData?: string }

const toBase64Url = (text: string): string => {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (let index = 0; index < bytes.length; index++) binary += String.fromCharCode(bytes[index])
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

const fromBase64Url = (text: string): string | null => {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
    const bytes = new Uint8Array(binary.length)
    for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index)
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return null
  }
}

/** The `encrypted_content` for a reasoning part; `null` when it has nothing to replay (no signature, not redacted). */
export const encodeReasoningContent = (part: ReasoningPart): string | null => {
  const replay: ReasoningReplay = {}
  if (part.signature) replay.signature = part.signature
  if (part.redactedData !== undefined) replay.redactedData = part.redactedData
  if (replay.signature === undefined && replay.redactedData === undefined) return null
  return `${prefix}${version}:${toBase64Url(JSON.stringify(replay))}`
}

/**
 * The signature and redacted data in an `encrypted_content` this gateway wrote; `null` for anything else (OpenAI's own
 * encrypted reasoning, another version, a damaged value), which a converted upstream has no use for.
 */
export const decodeReasoningContent = (text: string): ReasoningReplay | null => {
  if (!text.startsWith(`${prefix}${version}:`)) return null
  const json = fromBase64Url(text.slice(prefix.length + version.length + 1))
  if (json === null) return null
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null
  const { signature, redactedData } = value as Record<string, unknown>
  const replay: ReasoningReplay = {}
  if (typeof signature === 'string' && signature !== '') replay.signature = signature
  if (typeof redactedData === 'string') replay.redactedData = redactedData
  if (replay.signature === undefined && replay.redactedData === undefined) return null
  return replay
}
