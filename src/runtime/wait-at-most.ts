/** Resolves `true` once `promise` settles (either way), or `false` after `ms`; the timer never keeps the process up. */
export const waitAtMost = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
    timer.unref()
  })
  const finished = await Promise.race([
    promise.then(
      () => true,
      () => true
    ),
    timedOut,
  ])
  clearTimeout(timer)
  return finished
}
