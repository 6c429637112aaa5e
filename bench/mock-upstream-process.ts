/**
 * The benchmark's upstream, run as a child process: the test suite's mock OpenAI API (real wire format: a small chat
 * completion JSON, or an SSE stream of 20 content chunks with role, finish and usage chunks and `[DONE]`), answering
 * only the key the gateway is configured with. Prints `{"baseUrl": ...}` once listening.
 *
 * It counts the requests it served and answers `{ type: 'count' }` on the IPC channel with `{ served }`, so a run can
 * prove that the gateway's answers came through the mock. The recorded requests are drained as they come, so memory
 * stays flat under load.
 */
import { startMockOpenAIUpstream } from '../test/helpers/mock-openai-upstream.ts'
import { benchSettings } from './bench-settings.ts'

const mock = await startMockOpenAIUpstream({
  apiKey: benchSettings.upstreamApiKey,
  streamChunks: benchSettings.streamChunks,
  record: true,
})
let served = 0
const drain = (): void => {
  served += mock.requests.length
  mock.requests.length = 0
}
setInterval(drain, 100).unref()

process.on('message', (message: { type?: string }) => {
  if (message?.type !== 'count') return
  drain()
  process.send?.({ type: 'count', served })
})
process.on('SIGTERM', () => void mock.close().then(() => process.exit(0)))
process.stdout.write(`${JSON.stringify({ baseUrl: mock.baseUrl })}\n`)
