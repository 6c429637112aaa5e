import { describe, expect, it } from 'vitest'
import {
  maskRememberedSecrets,
  providerSecrets,
  redactSecrets,
  rememberSecrets,
} from './redact-secrets.ts'

describe('redactSecrets', () => {
  it('masks what looks like a key, and the remembered credentials by value whatever they look like', () => {
    rememberSecrets(['gsk_live_redactTest0123456789', 'short', undefined, null])
    expect(redactSecrets('Incorrect API key provided: sk-proj-abcdef123456 (check it)')).toBe(
      'Incorrect API key provided: sk-*** (check it)'
    )
    expect(redactSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer ***')
    expect(redactSecrets('Invalid API Key provided: gsk_live_redactTest0123456789')).toBe(
      'Invalid API Key provided: [redacted]'
    )
    // Fewer than 8 characters: an ordinary word, left alone.
    expect(redactSecrets('a short answer')).toBe('a short answer')
  })

  it('masks a secret that holds another whole, and leaves text without one untouched', () => {
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
})
