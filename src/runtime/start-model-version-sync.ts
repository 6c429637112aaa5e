/**
 * On Node, every few seconds: the model versions other gateway processes activated or reset, applied here
 * (`ModelVersionManager.sync`), so that `gatehouse models activate` reaches every process on the same database
 * (`serve --workers N`, or several instances on one PostgreSQL) and not only the one that answered it. A look is one
 * small query; the timer does not keep the process alive, and a look that fails is logged and tried again at the next.
 */
import type { Logger } from '../core/logger.ts'
import type { ModelVersionManager } from '../core/model-version-manager.ts'
import type { Closable } from '../stores/types.ts'

/** How long another process's activation takes to reach this one, at most, before its load. */
export const defaultModelVersionSyncMs = 5_000

export const startModelVersionSync = (options: {
  manager: Pick<ModelVersionManager, 'sync'>
  logger: Logger
  intervalMs?: number
}): Closable => {
  const intervalMs = options.intervalMs ?? defaultModelVersionSyncMs
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> = Promise.resolve()
  let closed = false
  const schedule = (): void => {
    if (closed) return
    timer = setTimeout(look, intervalMs)
    timer.unref()
  }
  const look = (): void => {
    running = options.manager.sync().then(
      () => {},
      (error: unknown) => options.logger.error({ err: error }, 'model versions: a sync failed')
    )
    void running.then(schedule)
  }
  schedule()
  return {
    name: 'model version sync',
    close: async () => {
      closed = true
      clearTimeout(timer)
      await running
    },
  }
}
