/**
 * The `/docs` page as users reach it: Swagger UI renders the gateway's OpenAPI document in a real headless Chromium
 * with every request off 127.0.0.1 blocked, which proves the page needs no CDN (its assets come from the pinned
 * swagger-ui-dist through the gateway itself). The document's own checks are in test/integration/docs.test.ts.
 */
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.ts'
import { systemClock } from '../../src/core/clock.ts'
import { silentLogger } from '../../src/core/logger.ts'
import type { Deps } from '../../src/deps.ts'
import { createNodeAssets } from '../../src/runtime/node-assets.ts'
import { createFakeAdapter, createFakeDeps } from '../helpers/fake-deps.ts'

const chromiumPath = '/usr/bin/chromium'
const publicPaths = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/messages',
  '/v1/messages/count_tokens',
]

const createDocsDeps = (): Deps => ({
  ...createFakeDeps({ adapters: [createFakeAdapter({ id: 'openai' })] }),
  clock: systemClock,
  logger: silentLogger,
  assets: createNodeAssets(),
})

let server: ServerType | undefined
let origin = ''
let browser: Browser | undefined

beforeAll(async () => {
  const app = createApp(createDocsDeps())
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      origin = `http://127.0.0.1:${info.port}`
      resolve()
    })
  })
})

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
})

describe('GET /docs in a browser with no network', () => {
  it('renders every operation with assets served by the gateway only', async () => {
    if (!existsSync(chromiumPath)) {
      throw new Error(
        `${chromiumPath} is missing: apt-get install -y chromium (the CI script installs it)`
      )
    }
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    const page = await browser.newPage()
    const blocked: string[] = []
    const served: string[] = []
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.route('**/*', async (route) => {
      const url = new URL(route.request().url())
      if (url.hostname === '127.0.0.1') {
        served.push(url.pathname)
        await route.continue()
      } else {
        blocked.push(url.href)
        await route.abort('internetdisconnected')
      }
    })

    const response = await page.goto(`${origin}/docs`)
    expect(response?.status()).toBe(200)
    await page
      .locator('.opblock-summary-path[data-path="/v1/chat/completions"]')
      .waitFor({ state: 'visible', timeout: 15_000 })
    const rendered = await page
      .locator('.opblock-summary-path')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-path') ?? ''))
    for (const path of publicPaths) expect(rendered, path).toContain(path)
    await expect(
      page.getByText('/v1/chat/completions', { exact: true }).first().isVisible()
    ).resolves.toBe(true)
    expect(await page.locator('.swagger-ui .errors-wrapper').count()).toBe(0)

    expect(served).toEqual(
      expect.arrayContaining([
        '/docs',
        '/docs/assets/swagger-ui.css',
        '/docs/assets/swagger-ui-bundle.js',
        '/openapi.json',
      ])
    )
    expect(blocked).toEqual([])
    expect(pageErrors).toEqual([])
  }, 45_000)
})
