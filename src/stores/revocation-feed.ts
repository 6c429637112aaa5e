/**
 * Tells every gateway process that a key or a tenant changed (revoked, disabled, rotated, new limits), so each can
 * drop what it cached about it: the key store is the truth, and a process may keep a short positive cache of it only
 * because this feed evicts within a second. Memory (`src/stores/memory/`) reaches the listeners of one process; Redis
 * pub/sub (`src/stores/redis/`) reaches every process on the same Redis and key prefix.
 *
 * Delivery is at most once: a process that was disconnected misses what was published meanwhile. So after every
 * reconnect the feed sends `reset` (drop everything), and while it is not `live()` a caller should not trust its
 * cache for longer than it would without the feed.
 */
export type RevocationNotice = { kind: 'key'; id: string } | { kind: 'tenant'; id: string }

export type RevocationEvent = RevocationNotice | { kind: 'reset' }

export type RevocationListener = (event: RevocationEvent) => void

export interface RevocationFeed {
  /**
   * Sends `notice` to every process's listeners, this one's included. Best effort: an unreachable Redis is logged
   * (once per incident) and the call resolves, since the key store already holds the change and caches expire.
   */
  publish(notice: RevocationNotice): Promise<void>
  /** Calls `listener` for every event from now on (a listener that throws is ignored); returns the unsubscribe. */
  subscribe(listener: RevocationListener): () => void
  /** `true` while the feed is receiving: events published now will arrive. */
  live(): boolean
  /** Resolves once the feed receives (at start-up: after the first subscription is confirmed). */
  ready(): Promise<void>
  /** Stops receiving and releases the connection the feed owns. */
  close(): Promise<void>
}

/** Calls each listener with `event`; one that throws does not keep the others from hearing it. */
export const notifyRevocationListeners = (
  listeners: Iterable<RevocationListener>,
  event: RevocationEvent
): void => {
  for (const listener of listeners) {
    try {
      listener(event)
    } catch {
      // A listener's failure is its own; the feed keeps delivering.
    }
  }
}
