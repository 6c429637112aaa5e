import { describe, expect, it } from 'vitest'
import { forwardedBodyProblem } from './check-forwarded-body.ts'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('forwardedBodyProblem', () => {
  it('accepts JSON objects, with whitespace or a byte order mark around them', () => {
    for (const body of [
      '{"id":"chatcmpl-1","choices":[]}',
      '\n {"a":1}\n',
      '\ufeff{"a":1}',
      '{}',
    ]) {
      expect(forwardedBodyProblem(bytes(body), 'json'), body).toBeNull()
    }
  })

  it('rejects what is not a JSON object: HTML, text, an array, a cut-off object, nothing', () => {
    for (const body of [
      '<html><body>502 Bad Gateway</body></html>',
      'OK',
      '[1,2]',
      '{"id":"chatcmpl-1","choi',
      '',
      '   ',
    ]) {
      expect(forwardedBodyProblem(bytes(body), 'json'), body).toMatch(/not a JSON object/)
    }
  })

  it('accepts the opening of OpenAI and Anthropic streams, comments and partial first lines', () => {
    for (const body of [
      'data: {"id":"chatcmpl-1","object":"chat.completion.chunk"}\n\n',
      'data:{"id":"x"}\n\n',
      'event: message_start\ndata: {"type":"message_start"}\n\n',
      ': keep-alive\n\ndata: {"a":1}\n\n',
      'data: [DONE]\n\n',
      'event: message_start\n',
      'data: ',
      'data:\n\ndata: {"a":1}\n\n',
      'data: \r\n\r\n',
      ': OPENROUTER PROCESSING\n\ndata: {"id":"gen-1"}\n\n',
      'id: 7\nretry: 100\ndata: {"a":1}\n\n',
      'da',
      '\n\n',
      '',
    ]) {
      expect(forwardedBodyProblem(bytes(body), 'sse'), JSON.stringify(body)).toBeNull()
    }
  })

  it('rejects a stream that opens with HTML or JSON, or whose first data is not JSON', () => {
    expect(forwardedBodyProblem(bytes('<html>this is not JSON</html>'), 'sse')).toMatch(
      /not an event stream/
    )
    expect(forwardedBodyProblem(bytes('{"error":{"message":"x"}}'), 'sse')).toMatch(
      /not an event stream/
    )
    expect(forwardedBodyProblem(bytes('data: <html>this is not JSON</html>\n\n'), 'sse')).toMatch(
      /data is not JSON/
    )
    expect(forwardedBodyProblem(bytes('event: message_start\ndata: oops\n\n'), 'sse')).toMatch(
      /data is not JSON/
    )
  })
})
