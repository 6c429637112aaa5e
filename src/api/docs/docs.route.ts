/**
 * `GET /openapi.json` (generated from the zod route schemas) and `GET /docs`, a Swagger UI page whose assets the
 * gateway serves itself from the pinned `swagger-ui-dist` package: no CDN, so it works offline.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Deps } from '../../deps.ts'
import type { GatewayEnv } from '../../middleware/gateway-env.ts'

const servedAssets = new Set([
  'swagger-ui.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
])

const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`

const initScript = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`

export const registerDocs = (app: OpenAPIHono<GatewayEnv>, deps: Deps, version: string): void => {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKeyAuth', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
  })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse',
      version,
      description: 'An LLM gateway with drop-in OpenAI- and Anthropic-compatible APIs.',
    },
  })
  app.get('/docs', (c) => c.html(docsPage))
  app.get('/docs/init.js', (c) =>
    c.body(initScript, 200, { 'content-type': 'text/javascript; charset=utf-8' })
  )
  app.get('/docs/assets/:name', async (c) => {
    const name = c.req.param('name')
    const asset = servedAssets.has(name) ? await deps.assets.get(name) : null
    if (!asset) return c.text('Not found', 404)
    return asset
  })
}
