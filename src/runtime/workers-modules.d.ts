/**
 * The one workerd built-in module the Workers entry imports, declared here rather than loading all of
 * `@cloudflare/workers-types` into the repo's Node-typed program (its globals clash with DOM and @types/node).
 */
declare module 'cloudflare:workers' {
  /**
   * Extends the current request's lifetime until `promise` settles, like `ctx.waitUntil`, without needing `ctx`.
   * https://developers.cloudflare.com/workers/runtime-apis/context/#waituntil
   */
  export function waitUntil(promise: Promise<unknown>): void
}
