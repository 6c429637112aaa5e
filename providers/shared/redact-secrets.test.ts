import { describe, expect, it } from 'vitest'
import { redactSecrets } from './redact-secrets.ts'

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
})
