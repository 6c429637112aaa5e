/**
 * A Responses request the gateway expanded before forwarding it (a `previous_response_id` naming a response the gateway
 * keeps itself: the upstream gets the whole conversation instead) is answered by an upstream that never saw the field,
 * so its `Response` objects say `"previous_response_id": null`. The client must get back what it sent, as from the
 * API itself: these rewrites put the request's fields (`PreparedCall.echo`) where the forwarded answer has `null`.
 *
 * Only the `Response` objects carry such a field at their top level; the text of an answer cannot hold the pattern
 * unescaped (a quote inside a JSON string is `\"`), so a textual replacement of `"<field>":null` is exact. A stream is
 * rewritten line by line (a line cut between two chunks waits for its end), only for requests with something to echo.
 */
import type { ForwardResponse } from '../../providers/spec/provider-adapter.ts'
import { joinBytes } from '../../providers/shared/read-response-bytes.ts'

const replacementsOf = (echo: Record<string, unknown>): [RegExp, string][] =>
  Object.entries(echo)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([name, value]) => [
      new RegExp(`"${name}"(\\s*):(\\s*)null`, 'g'),
      `"${name}"$1:$2${JSON.stringify(value).replace(/\$/g, '$$$$')}`,
    ])

const apply = (text: string, replacements: [RegExp, string][]): string => {
  let out = text
  for (const [pattern, replacement] of replacements) out = out.replace(pattern, replacement)
  return out
}

/** A whole forwarded body with the echoed fields in place of its `null`s. */
export const echoIntoBody = (bytes: Uint8Array, echo: Record<string, unknown>): Uint8Array => {
  const replacements = replacementsOf(echo)
  if (replacements.length === 0) return bytes
  return new TextEncoder().encode(apply(new TextDecoder().decode(bytes), replacements))
}

/** A forwarded stream's rewrite that puts the echoed fields in place of their `null`s, line by line. */
export const createEchoRewrite =
  (echo: Record<string, unknown>): NonNullable<ForwardResponse['createClientRewrite']> =>
  () => {
    const replacements = replacementsOf(echo)
    const decoder = new TextDecoder()
    const encoder = new TextEncoder()
    let carry = ''
    return {
      push(chunk) {
        const text = carry + decoder.decode(chunk, { stream: true })
        const end = text.lastIndexOf('\n') + 1
        carry = text.slice(end)
        return end === 0
          ? new Uint8Array(0)
          : encoder.encode(apply(text.slice(0, end), replacements))
      },
      end() {
        const rest = carry + decoder.decode()
        carry = ''
        return encoder.encode(apply(rest, replacements))
      },
    }
  }

/** Runs `first`'s rewrite, then `second`'s on its output. */
export const composeRewrites = (
  first: ForwardResponse['createClientRewrite'],
  second: NonNullable<ForwardResponse['createClientRewrite']>
): NonNullable<ForwardResponse['createClientRewrite']> =>
  first === undefined
    ? second
    : () => {
        const a = first()
        const b = second()
        return {
          push: (chunk) => b.push(a.push(chunk)),
          end: () => {
            const tail = b.push(a.end())
            return joinBytes(tail, b.end())
          },
        }
      }
