/**
 * Cloudflare Workers entry (`main` in wrangler.toml). Everything Workers-specific is in ./workers-*.ts; this file only
 * binds workerd's `waitUntil`, which attaches deferred work to the request that is running when it is called: the
 * app's `Deps` live for the whole isolate while requests come and go concurrently, so no single `ctx` would do.
 * https://developers.cloudflare.com/workers/runtime-apis/context/#waituntil
 */
import { waitUntil } from 'cloudflare:workers'
import { createWorkersHandler } from './workers-handler.ts'

export default createWorkersHandler({ waitUntil })
