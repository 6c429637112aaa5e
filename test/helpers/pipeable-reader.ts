/**
 * A pulled `ChunkReader` given a `pipe()`, as the Node transport's reader has one: piped, it reads on and on into the
 * sink, stopping when the sink answers `false` until it resumes, and stopping for good once cancelled. For testing
 * what sits on top of a piped upstream (the guard, the forwarded body) over the fake upstreams' Web streams.
 */
import type { ChunkReader, PipeControl } from '../../providers/spec/provider-adapter.ts'

export const pipeableReader = <T>(reader: ChunkReader<T>): ChunkReader<T> => {
  let stopped = false
  return {
    read: () => reader.read(),
    cancel: (reason) => {
      stopped = true
      return reader.cancel(reason)
    },
    pipe(sink): PipeControl {
      let paused = false
      const pump = (): void => {
        reader.read().then(
          (step) => {
            if (stopped) return
            if (step.done) sink.close()
            else if (sink.write(step.value)) pump()
            else paused = true
          },
          (error: unknown) => {
            if (!stopped) sink.error(error)
          }
        )
      }
      pump()
      return {
        resume: () => {
          if (!paused || stopped) return
          paused = false
          pump()
        },
      }
    },
  }
}
