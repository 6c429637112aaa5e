/**
 * Preloaded (`node --import`) into a gateway the benchmark starts with an IPC channel: measures the gateway's own
 * event loop delay, from inside it, between a `start` and a `read` message from the parent
 * (`{ type: 'event-loop', action: 'start' | 'read' }`), and answers a `read` with the delay's percentiles in
 * milliseconds. Plain JavaScript, so it loads before anything else, in the built gateway as in the sources.
 * The histogram records the interval between two timer samples, so each value includes the sampling interval
 * itself: it is taken off the figures reported.
 * https://nodejs.org/api/perf_hooks.html#perf_hooksmonitoreventloopdelayoptions
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import process from 'node:process'

const resolutionMs = 1
let histogram = null

const milliseconds = (nanoseconds) => Math.max(0, nanoseconds / 1e6 - resolutionMs)

process.on('message', (message) => {
  if (message?.type !== 'event-loop') return
  if (message.action === 'start') {
    histogram?.disable()
    histogram = monitorEventLoopDelay({ resolution: resolutionMs })
    histogram.enable()
    process.send({ type: 'event-loop', started: true })
    return
  }
  if (message.action === 'read' && histogram !== null) {
    histogram.disable()
    process.send({
      type: 'event-loop',
      p50Ms: milliseconds(histogram.percentile(50)),
      p99Ms: milliseconds(histogram.percentile(99)),
      maxMs: milliseconds(histogram.max),
      samples: histogram.count,
    })
    histogram = null
  }
})
// The channel must not keep the gateway alive: it drains and exits on SIGTERM as it would without the probe.
process.channel?.unref()
