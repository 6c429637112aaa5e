/**
 * Accepts exactly the master key. Keys are compared as SHA-256 digests in constant time: comparing the strings
 * directly would leak, through response timing, how long a guessed prefix is right; comparing fixed-length digests
 * also hides the key's length. Web Crypto only, so Node and Workers share it.
 * https://developer.mozilla.org/en-US/docs/Web/API/SubtleCrypto/digest
 */
import type { Authenticator, Principal } from './authenticate.ts'

const encoder = new TextEncoder()

const digest = async (key: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(key)))

/** Visits every byte whatever the input, so the time taken does not depend on where the digests differ. */
const equalInConstantTime = (left: Uint8Array, right: Uint8Array): boolean => {
  if (left.length !== right.length) return false
  let difference = 0
  for (let index = 0; index < left.length; index += 1) difference |= left[index] ^ right[index]
  return difference === 0
}

const masterPrincipal: Principal = { kind: 'master', id: 'master' }

export const createMasterKeyAuthenticator = (masterKey: string): Authenticator => {
  const expected = digest(masterKey)
  return {
    async authenticate(key: string): Promise<Principal | null> {
      const [presented, wanted] = await Promise.all([digest(key), expected])
      return equalInConstantTime(presented, wanted) ? masterPrincipal : null
    },
  }
}
