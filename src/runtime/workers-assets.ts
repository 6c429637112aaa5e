/**
 * The docs page's swagger-ui files on Workers, read through the static-assets binding (`[assets]` in wrangler.toml
 * points at the pinned `node_modules/swagger-ui-dist`, uploaded with the Worker): no CDN, so `/docs` works offline.
 * https://developers.cloudflare.com/workers/static-assets/binding/#binding
 */
import type { AssetSource } from '../deps.ts'

/** The `ASSETS` binding: a Fetcher whose `fetch` serves files of the assets directory by URL path (host ignored). */
export interface AssetsBinding {
  fetch(request: Request): Promise<Response>
}

/** `null` when the Worker has no assets binding, or the file is not there. */
export const createWorkersAssets = (binding: AssetsBinding | undefined): AssetSource => ({
  async get(name) {
    if (!binding) return null
    const response = await binding.fetch(
      new Request(`https://assets.local/${encodeURIComponent(name)}`)
    )
    if (!response.ok) {
      await response.body?.cancel()
      return null
    }
    // A binding's response has immutable headers; the app adds `x-request-id` to every response.
    return new Response(response.body, response)
  },
})
