import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { AssetSource } from '../deps.ts'

const contentTypes: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
}

/** Serves swagger-ui-dist files from the installed package (pinned in package-lock), cached in memory after first read. */
export const createNodeAssets = (): AssetSource => {
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
  const cache = new Map<string, Uint8Array>()
  return {
    async get(name) {
      let bytes = cache.get(name)
      if (!bytes) {
        try {
          bytes = new Uint8Array(await readFile(join(folder, name)))
        } catch {
          return null
        }
        cache.set(name, bytes)
      }
      const extension = name.slice(name.lastIndexOf('.'))
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: {
          'content-type': contentTypes[extension] ?? 'application/octet-stream',
          'cache-control': 'public, max-age=86400',
        },
      })
    },
  }
}
