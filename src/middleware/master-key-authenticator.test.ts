import { describe, it, expect } from 'vitest'
import { createMasterKeyAuthenticator } from './master-key-authenticator.ts'

describe('createMasterKeyAuthenticator', () => {
  const authenticator = createMasterKeyAuthenticator('gh-secret-master-key')

  it('accepts the master key as the master principal', async () => {
    expect(await authenticator.authenticate('gh-secret-master-key')).toEqual({
      kind: 'master',
      id: 'master',
      tenantId: null,
      access: null,
    })
  })

  it.each([
    ['a wrong key', 'gh-wrong'],
    ['an empty key', ''],
    ['a prefix of the key', 'gh-secret-master'],
    ['the key with extra characters', 'gh-secret-master-key2'],
    ['the key in another case', 'GH-SECRET-MASTER-KEY'],
  ])('rejects %s', async (_label, key) => {
    expect(await authenticator.authenticate(key)).toBeNull()
  })

  it('compares whole keys, including non-ASCII characters', async () => {
    const unicode = createMasterKeyAuthenticator('clé-🔑')
    expect(await unicode.authenticate('clé-🔑')).not.toBeNull()
    expect(await unicode.authenticate('cle-🔑')).toBeNull()
  })
})
