/**
 * The revocation feed of a single process: `publish` calls this process's listeners, at once. With one process there
 * is no one else to tell and nothing to miss, so it is always `live` and never sends `reset`.
 */
import {
  notifyRevocationListeners,
  type RevocationFeed,
  type RevocationListener,
} from '../revocation-feed.ts'

export const createMemoryRevocationFeed = (): RevocationFeed => {
  const listeners = new Set<RevocationListener>()
  let closed = false
  return {
    publish: async (notice) => {
      if (!closed) notifyRevocationListeners([...listeners], { kind: notice.kind, id: notice.id })
    },
    subscribe: (listener) => {
      // Wrapped, so the same function subscribed twice is two subscriptions with their own unsubscribes.
      const entry: RevocationListener = (event) => listener(event)
      listeners.add(entry)
      return () => void listeners.delete(entry)
    },
    live: () => !closed,
    ready: async () => {},
    close: async () => {
      closed = true
      listeners.clear()
    },
  }
}
