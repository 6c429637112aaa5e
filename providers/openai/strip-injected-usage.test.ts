import { describe, expect, it, vi } from 'vitest'
import { createUsageStripper, rewriteEventByPattern, rewriteEvent } from './strip-injected-usage.ts'
import { seededRandom } from '../../test/helpers/seeded-random.ts'
import { maxSseEventChars } from '../shared/parse-sse.ts'

const upstream = [
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"say \\"usage\\":null, ok"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n',
  'data: [DONE]\n\n',
].join('')

const run = (text: string, pieceSize: number): string => {
  const bytes = new TextEncoder().encode(text)
  const stripper = createUsageStripper()
  const decoder = new TextDecoder()
  let out = ''
  for (let offset = 0; offset < bytes.length; offset += pieceSize)
    out += decoder.decode(stripper.push(bytes.subarray(offset, offset + pieceSize)), {
      stream: true,
    })
  return out + decoder.decode(stripper.end())
}

/** `events` as a stream, and what the regular expressions make of it, event by event (an event they empty goes). */
const framed = (events: readonly string[]): { text: string; expected: string } => ({
  text: events.map((event) => `${event}\n\n`).join(''),
  expected: events
    .map((event) => rewriteEventByPattern(event))
    .filter((event) => event !== '')
    .map((event) => `${event}\n\n`)
    .join(''),
})

describe('createUsageStripper', () => {
  it('removes the usage the gateway asked for, exactly as if the client had not asked, at any split', () => {
    for (const size of [1, 3, 7, 64, 100_000]) {
      const out = run(upstream, size)
      const events = out.split('\n\n').filter((event) => event !== '')
      expect(events).toHaveLength(4)
      expect(events.at(-1)).toBe('data: [DONE]')
      for (const event of events.slice(0, -1)) {
        const chunk = JSON.parse(event.slice('data: '.length)) as Record<string, unknown>
        expect(chunk).not.toHaveProperty('usage')
        expect((chunk.choices as unknown[]).length).toBe(1)
      }
      expect(JSON.parse(events[1].slice(6)).choices[0].delta.content).toBe('say "usage":null, ok')
    }
  })

  it('sends an ASCII chunk from which nothing is removed as it came, not a copy', () => {
    const stripper = createUsageStripper()
    const chunk = new TextEncoder().encode(
      'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
    )
    expect(stripper.push(chunk)).toBe(chunk)
  })

  it('gives what the regular expressions give, event by event, for any text cut anywhere (ASCII or not)', () => {
    const random = seededRandom(29)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
    const contents = ['x', 'usage', '\\"usage\\":null', 'é', '€', '😀', ' ', 'ü', 'abc']
    const chunkOf = (content: string, usage: string) =>
      `data: {"id":"c","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]${usage}}`
    const usages = [',"usage":null', ', "usage" : null', '', ',"usage":null,"obfuscation":"k3"']
    const encoder = new TextEncoder()
    for (let round = 0; round < 300; round++) {
      // Now and then the injected usage chunk, or a line that starts with a character of several bytes (passed as it
      // is): a chunk may then end on a whole event with part of that character held back by the decoder.
      const events = Array.from({ length: 1 + Math.floor(random() * 8) }, () => {
        const kind = random()
        if (kind < 0.1) return 'data: {"choices":[],"usage":{"total_tokens":3}}'
        if (kind < 0.25) return '€x: not a field'
        return chunkOf(
          Array.from({ length: Math.floor(random() * 4) }, () => pick(contents)).join(''),
          pick(usages)
        )
      })
      events.push('data: [DONE]')
      const { text, expected } = framed(events)
      const bytes = encoder.encode(text)
      const stripper = createUsageStripper()
      const decoder = new TextDecoder()
      let out = ''
      for (let offset = 0; offset < bytes.length;) {
        const size = 1 + Math.floor(random() * (random() < 0.5 ? 8 : 400))
        out += decoder.decode(stripper.push(bytes.subarray(offset, offset + size)), {
          stream: true,
        })
        offset += size
      }
      out += decoder.decode(stripper.end())
      expect(out, JSON.stringify(text)).toBe(expected)
    }
  })

  it('keeps CRLF framing and passes an unterminated last event through', () => {
    const crlf =
      'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}\r\n\r\ndata: {"choices":[],"usage":{"prompt_tokens":1}}\r\n\r\ndata: [DO'
    expect(run(crlf, 5)).toBe(
      'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\r\n\r\ndata: [DO'
    )
  })
})

describe('the hand-written rewrite', () => {
  it('removes exactly what the regular expressions remove, event by event', () => {
    const pieces = [
      ',',
      ', ',
      ' ',
      '\t',
      '\n',
      '\u00a0',
      '"usage"',
      '"usage"',
      ':',
      ': ',
      'null',
      'null',
      '}',
      '{',
      '{',
      '{"n":1}',
      '"choices"',
      '[',
      ']',
      '[ ]',
      '"delta"',
      '"x"',
      '1',
      'usage',
      '"',
      '\\"usage\\"',
    ]
    const heads = [
      'data: ',
      'data:',
      ' data: ',
      'event: x\ndata: ',
      'data: [DONE]',
      ': comment\n',
      '',
    ]
    const random = seededRandom(11)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
    for (let round = 0; round < 20_000; round++) {
      const event =
        pick(heads) + Array.from({ length: Math.floor(random() * 16) }, () => pick(pieces)).join('')
      expect(rewriteEvent(event), JSON.stringify(event)).toBe(rewriteEventByPattern(event))
    }
  })

  it('rewrites several events in one chunk as the regular expressions rewrite each alone (no search crosses an event)', () => {
    const pieces = [
      ',',
      ' ',
      '\u00a0',
      '"usage"',
      ':',
      'null',
      '}',
      '{',
      '"choices"',
      '[',
      ']',
      '"delta"',
      '\n',
    ]
    const heads = ['data: ', 'data:', ' data: ', 'event: x\ndata: ', 'data: [DONE]', ': c\n', '']
    const random = seededRandom(47)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
    const encoder = new TextEncoder()
    const decoder = new TextDecoder()
    for (let round = 0; round < 3_000; round++) {
      const events: string[] = []
      while (events.length < 1 + Math.floor(random() * 6)) {
        const event =
          pick(heads) +
          Array.from({ length: Math.floor(random() * 12) }, () => pick(pieces)).join('')
        // One event: no blank line inside it, none made with the blank line after it.
        if (event !== '' && !event.includes('\n\n') && !event.endsWith('\n')) events.push(event)
      }
      const { text, expected } = framed(events)
      const stripper = createUsageStripper()
      const out =
        decoder.decode(stripper.push(encoder.encode(text))) + decoder.decode(stripper.end())
      expect(out, JSON.stringify(text)).toBe(expected)
    }
  })

  it("judges each event of a chunk by its own members, not by the next event's", () => {
    const stripper = createUsageStripper()
    const text = 'data: {"usage":{"total_tokens":1}}\n\ndata: {"choices":[],"usage":null,"x":1}\n\n'
    const out = new TextDecoder().decode(stripper.push(new TextEncoder().encode(text)))
    expect(out).toBe('data: {"usage":{"total_tokens":1}}\n\ndata: {"choices":[],"x":1}\n\n')
  })

  it('rewrites real chunks as the regular expressions do', () => {
    for (const event of upstream.split('\n\n'))
      expect(rewriteEvent(event)).toBe(rewriteEventByPattern(event))
    const spaced =
      'data: {"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": null, "id": "c"}'
    expect(rewriteEvent(spaced)).toBe(
      'data: {"choices": [{"index": 0, "delta": {"content": "x"}}], "id": "c"}'
    )
    expect(rewriteEvent('data: {"usage" : null , "id":"c"}')).toBe('data: { "id":"c"}')
    expect(rewriteEvent('data: {"choices" : [ ], "usage":{"total_tokens":1}}')).toBe('')
    // An empty-choices chunk without usage is not the one the gateway asked for (Azure's prompt filter results).
    const filter =
      'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0}],"usage":null}'
    expect(rewriteEvent(filter)).toBe(
      'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0}]}'
    )
  })
  it('ends a stream that ended on a whole event with an empty chunk, encoding nothing', () => {
    const stripper = createUsageStripper()
    stripper.push(new TextEncoder().encode(upstream))
    const encode = vi.spyOn(TextEncoder.prototype, 'encode')
    try {
      expect(stripper.end().byteLength).toBe(0)
      expect(encode).not.toHaveBeenCalled()
    } finally {
      encode.mockRestore()
    }
    // An event cut short at the end still goes out as it came.
    const cut = createUsageStripper()
    expect(
      new TextDecoder().decode(cut.push(new TextEncoder().encode('data: {"a":1}\n\ndata: {"b"')))
    ).toBe('data: {"a":1}\n\n')
    expect(new TextDecoder().decode(cut.end())).toBe('data: {"b"')
  })
})

describe('an event that never ends', () => {
  it('rewrites a large event sent in many chunks as it rewrites it whole, searching and copying each chunk once', () => {
    const content = 'x'.repeat(8 * 1024 * 1024)
    const text =
      `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}],"usage":null}\n\n` +
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}\n\n' +
      'data: [DONE]\n\n'
    const whole = run(text, text.length)
    const started = performance.now()
    const chunked = run(text, 64 * 1024)
    // Linear: tens of milliseconds; joined and searched again at every chunk, it took over a second.
    expect(performance.now() - started).toBeLessThan(400)
    expect(chunked).toBe(whole)
    expect(chunked).not.toContain('"usage"')
    expect(chunked).toContain(content)
  })

  it('is sent on once it passes the parser bound, not held without limit', () => {
    const stripper = createUsageStripper()
    const piece = new TextEncoder().encode('x'.repeat(1024 * 1024))
    let sent = 0
    sent += stripper.push(
      new TextEncoder().encode('data: {"choices":[{"delta":{"content":"')
    ).byteLength
    for (let index = 0; index < 20; index += 1) sent += stripper.push(piece).byteLength
    // At most one bound's worth is held back at any time.
    expect(sent).toBeGreaterThan(20 * 1024 * 1024 - maxSseEventChars)
  })
})
