import { describe, expect, it } from 'vitest'
import type { ChatRequest } from '../../providers/spec/chat-types.ts'
import { estimateChatBodyTokens, estimateTextTokens, estimateTokens } from './estimate-tokens.ts'

const request = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Hello there, how are you doing today?' }] },
  ],
  stream: false,
  ...overrides,
})

describe('estimateTextTokens', () => {
  it('counts about four ASCII characters per token', () => {
    expect(estimateTextTokens('')).toBe(0)
    expect(estimateTextTokens('abcd')).toBe(1)
    expect(estimateTextTokens('a'.repeat(400))).toBe(100)
  })

  it('weighs other scripts more, so CJK text is not underestimated fourfold', () => {
    expect(estimateTextTokens('日本語のテキスト')).toBe(8)
    expect(estimateTextTokens('Привет')).toBe(3)
    expect(estimateTextTokens('😀')).toBe(1)
  })

  it('weighs each character as a per-character walk does: surrogate pairs as one, lone surrogates as one each', () => {
    const byCharacter = (text: string): number => {
      let weight = 0
      for (const character of text) {
        const codePoint = character.codePointAt(0) ?? 0
        weight += codePoint < 0x80 ? 0.25 : codePoint < 0x800 ? 0.5 : 1
      }
      return Math.ceil(weight)
    }
    // Code units from every class, lone and paired surrogates included, in a fixed pseudo-random order.
    const units = [
      0x41, 0x7f, 0x80, 0x3b1, 0x7ff, 0x800, 0x65e5, 0xd83d, 0xde00, 0xdbff, 0xdc00, 0xffff, 0x0a,
    ]
    let seed = 7
    for (let round = 0; round < 300; round += 1) {
      let text = ''
      for (let index = 0; index < round % 41; index += 1) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
        text += String.fromCharCode(units[seed % units.length])
      }
      expect(estimateTextTokens(text), JSON.stringify(text)).toBe(byCharacter(text))
    }
    expect(estimateTextTokens('\ud83d')).toBe(1)
    expect(estimateTextTokens('a\ude00b')).toBe(2)
    expect(estimateTextTokens('😀😀😀😀')).toBe(4)
  })
})

describe('estimateTokens', () => {
  it('is deterministic and close to chars/4 plus per-message overhead for plain English', () => {
    const text = 'Hello there, how are you doing today?'
    expect(estimateTokens(request())).toBe(3 + 4 + Math.ceil(text.length / 4))
    expect(estimateTokens(request())).toBe(estimateTokens(request()))
  })

  it('grows with the conversation: system prompt, tool calls and tool results all count', () => {
    const base = estimateTokens(request())
    const longer = estimateTokens(
      request({
        messages: [
          { role: 'system', content: 'You are a weather bot. '.repeat(20) },
          { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
          {
            role: 'assistant',
            content: [
              {
                type: 'tool-call',
                id: 'call_1',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
            ],
          },
          {
            role: 'tool',
            toolCallId: 'call_1',
            content: [{ type: 'text', text: '{"temperature":21,"sky":"clear"}' }],
          },
        ],
      })
    )
    expect(longer).toBeGreaterThan(base + 100)
  })

  it('charges tool definitions, their schemas and the tool-use preamble', () => {
    const parameters = {
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' } },
    }
    const withTools = estimateTokens(
      request({ tools: [{ name: 'get_weather', description: 'Current weather', parameters }] })
    )
    const withoutTools = estimateTokens(request())
    expect(withTools - withoutTools).toBeGreaterThan(300 + JSON.stringify(parameters).length / 4)
  })

  it('counts an image as a large fixed cost rather than the length of its base64 data', () => {
    const data = 'A'.repeat(200_000)
    const tokens = estimateTokens(
      request({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'base64', mediaType: 'image/png', data } }],
          },
        ],
      })
    )
    expect(tokens).toBe(3 + 4 + 1600)
  })
})

describe('estimateChatBodyTokens', () => {
  const text = 'Hello there, how are you doing today?'

  it('weighs the text of a body as the canonical estimate does, erring high by its keys only', () => {
    const fromBody = estimateChatBodyTokens({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: text }],
    })
    const canonical = estimateTokens(request())
    expect(fromBody).toBe(canonical)
    const withParts = estimateChatBodyTokens({
      messages: [{ role: 'user', content: [{ type: 'text', text }] }],
    })
    expect(withParts).toBe(canonical)
  })

  it('weighs a media part as one image, however long its data (audio sent as base64)', () => {
    const audio = (data: string) =>
      estimateChatBodyTokens({
        messages: [
          {
            role: 'user',
            content: [{ type: 'input_audio', input_audio: { data, format: 'wav' } }],
          },
        ],
      })
    expect(audio('UklGRg==')).toBe(audio('A'.repeat(1_000_000)))
    expect(audio('A'.repeat(1_000_000))).toBe(3 + 4 + 1600)
  })

  it("counts Anthropic's system and either dialect's tools, with the tool-use preamble", () => {
    const bare = estimateChatBodyTokens({ messages: [{ role: 'user', content: text }] })
    const withSystem = estimateChatBodyTokens({
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: text }],
    })
    expect(withSystem - bare).toBe(estimateTextTokens('Be brief.'))
    const withTools = estimateChatBodyTokens({
      messages: [{ role: 'user', content: text }],
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }],
    })
    expect(withTools - bare).toBe(300 + 8 + estimateTextTokens('web_search'))
  })

  it('reads a body it cannot make sense of without throwing', () => {
    expect(estimateChatBodyTokens({ messages: 'not a list', tools: {} })).toBe(3)
  })
})
