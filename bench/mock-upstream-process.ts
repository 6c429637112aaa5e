/**
 * The benchmark's upstream, run as a child process on the load generator's core: `lean-mock-upstream.ts`, answering
 * what the test suite's mock would answer to the benchmark's request (`echo: <user text>`), and only to the key the
 * gateway is configured with. Prints `{"baseUrl": ...}` once listening; answers `{ type: 'count' }` on the IPC
 * channel with `{ type: 'count', served }`, so a run can prove the gateway's answers came through the mock (with a
 * `phase`, the paced streams of that phase alone).
 */
import { benchSettings, mockAnswer } from './bench-settings.ts'
import { startLeanMockUpstream } from './lean-mock-upstream.ts'

const mock = await startLeanMockUpstream({
  apiKey: benchSettings.upstreamApiKey,
  answer: mockAnswer,
  streamChunks: benchSettings.streamChunks,
  models: [benchSettings.model],
})

process.on('message', (message: { type?: string; phase?: string }) => {
  if (message?.type !== 'count') return
  const served = message.phase === undefined ? mock.served() : mock.servedInPhase(message.phase)
  process.send?.({ type: 'count', served })
})
process.on('disconnect', () => void mock.close().then(() => process.exit(0)))
process.on('SIGTERM', () => void mock.close().then(() => process.exit(0)))
process.stdout.write(`${JSON.stringify({ baseUrl: mock.baseUrl })}\n`)
