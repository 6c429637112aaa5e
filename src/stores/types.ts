/**
 * The stores the gateway keeps state in, one narrow interface each, with one implementation per backend
 * (`src/stores/memory|sql|redis/`). Each backend gets its client and clock through its constructor; the core and the
 * routes see only these interfaces, and `test/contract/` runs every implementation through the same cases.
 *
 * Empty today. The tenants issue adds `keys` (tenants and API keys), `usage` (events and roll-ups) and `limits`
 * (rate-limit counters, budget reservations); the Responses API issue adds `responses`; the prompt cache adds `cache`.
 */
export type Stores = Record<never, never>

/** Something held open for the process's life (a store's connection, a pool, worker threads), closed at shutdown. */
export type Closable = {
  /** For the shutdown log: `usage sink`, `providers`, `redis`. */
  name: string
  close(): Promise<void>
}
