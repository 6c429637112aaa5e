import { describe, expect, it } from 'vitest'
import {
  createSecretMasker,
  maskRememberedSecrets,
  providerSecrets,
  redactSecrets,
  rememberSecrets,
} from './redact-secrets.ts'

describe('redactSecrets', () => {
  it('masks Anthropic and OpenAI keys, including partly masked ones', () => {
    expect(redactSecrets('invalid x-api-key: sk-ant-api03-AbC_d-123456')).toBe(
      'invalid x-api-key: sk-ant-***'
    )
    expect(redactSecrets('Incorrect API key provided: sk-proj-abc1********************xyz9.')).toBe(
      'Incorrect API key provided: sk-***'
    )
  })

  it('masks bearer tokens in any case', () => {
    expect(redactSecrets('header was "Authorization: Bearer eyJhbGciOi.J9x-y_z="')).toBe(
      'header was "Authorization: Bearer ***"'
    )
    expect(redactSecrets('bearer abc123')).toBe('Bearer ***')
  })

  it('leaves ordinary text alone', () => {
    const text = 'prompt is too long: 208310 tokens > 200000 maximum; ask-me and task-12 stay'
    expect(redactSecrets(text)).toBe(text)
  })

  it('masks the remembered credentials by value, whatever they look like', () => {
    rememberSecrets(['gsk_live_redactTest0123456789', 'short', undefined, null])
    expect(redactSecrets('Invalid API Key provided: gsk_live_redactTest0123456789')).toBe(
      'Invalid API Key provided: [redacted]'
    )
    // Fewer than 8 characters: an ordinary word, left alone.
    expect(redactSecrets('a short answer')).toBe('a short answer')
  })

  it('masks a remembered secret that holds another whole, and leaves text without one untouched', () => {
    rememberSecrets(['org-token-redact', 'org-token-redact-and-more'])
    expect(maskRememberedSecrets('x org-token-redact-and-more y org-token-redact z')).toBe(
      'x [redacted] y [redacted] z'
    )
    const clean = 'Missing API key: send it as `Authorization: Bearer <key>`.'
    expect(maskRememberedSecrets(clean)).toBe(clean)
  })

  it("lists each provider's API key and the values of its headers", () => {
    expect(
      providerSecrets({
        openai: { apiKey: 'sk-one', headers: {} },
        azure: { headers: { 'api-key': 'azure-key-value' } },
        local: {},
      })
    ).toEqual(['sk-one', 'azure-key-value'])
  })

  describe('createSecretMasker', () => {
    const encoder = new TextEncoder()
    const decoder = new TextDecoder()
    rememberSecrets(['masker-secret-0123456789', 'masker-secret-0123456789-longer-one'])

    const run = (pieces: string[]): string[] => {
      const masker = createSecretMasker()!
      const out = pieces.map((piece) => decoder.decode(masker.push(encoder.encode(piece))))
      out.push(decoder.decode(masker.end()))
      return out
    }

    it('masks a credential cut anywhere between two chunks, and holds back no more than one could need', () => {
      const text = 'x masker-secret-0123456789 y'
      for (let at = 0; at <= text.length; at += 1) {
        const out = run([text.slice(0, at), text.slice(at)])
        expect(out.join('')).toBe('x [redacted] y')
      }
      // A chunk longer than the longest credential goes out at once but for its last bytes.
      const long = 'a'.repeat(100)
      expect(run([long])[0]).toBe(
        'a'.repeat(100 - 'masker-secret-0123456789-longer-one'.length + 1)
      )
    })

    it('masks the longer of two credentials that start alike whole, and passes other bytes as they came', () => {
      const bytes = new Uint8Array([0xc3, 0xa9, 0x20, 0xe2, 0x82])
      const masker = createSecretMasker()!
      const out = [
        masker.push(
          encoder.encode('masker-secret-0123456789-longer-one and masker-secret-0123456789.')
        ),
        masker.push(bytes),
        masker.end(),
      ]
      const all = new Uint8Array(out.reduce((size, piece) => size + piece.length, 0))
      let offset = 0
      for (const piece of out) {
        all.set(piece, offset)
        offset += piece.length
      }
      const expected = encoder.encode('[redacted] and [redacted].')
      expect([...all]).toEqual([...expected, ...bytes])
    })
  })
})
