/**
 * Accepts exactly the master key. Keys are compared as SHA-256 digests in constant time: comparing the strings
 * directly would leak, through response timing, how long a guessed prefix is right; comparing fixed-length digests
 * also hides the key's length. Web Crypto only, so Node and Workers share it.
 * https://developer.mozilla.org/en-US/docs/Web/API/SubtleCrypto/digest
 */
import { masterPrincipal, type Principal } from '../core/principal.ts'
import type { Authenticator } from './authenticate.ts'

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

/**
 * A key that has matched once is remembered, so the hot path skips the digest: `crypto.subtle.digest` is asynchronous
 * and, on Node, runs on the libuv thread pool, which cost a tenth of the gateway's CPU and a thread hop per request in
 * the benchmark. Only the one valid key can be remembered; a wrong key always pays the constant-time comparison (the
 * set lookup hashes the whole string and compares contents only on a hash collision).
 */
export const createMasterKeyAuthenticator = (masterKey: string): Authenticator => {
  const expected = digest(masterKey)
  const verified = new Set<string>()
  const verify = async (key: string): Promise<Principal | null> => {
    const [presented, wanted] = await Promise.all([digest(key), expected])
    if (!equalInConstantTime(presented, wanted)) return null
    verified.add(key)
    return masterPrincipal
  }
  return {
    authenticate: (key) => (verified.has(key) ? masterPrincipal : verify(key)),
  }
}
