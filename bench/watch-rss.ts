/**
 * Resident memory of a child process from `/proc/<pid>/status` (Linux): `VmHWM` is the kernel's own peak since the
 * process started, `VmRSS` the current figure, polled to get the peak within one scenario.
 * https://man7.org/linux/man-pages/man5/proc_pid_status.5.html
 */
import { readFileSync } from 'node:fs'

const readStatusKb = (pid: number, field: 'VmHWM' | 'VmRSS'): number | null => {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return null
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return match === null ? null : Number(match[1])
}

/** Peak resident set since the process started, in KiB; `null` when /proc is not readable (not Linux, process gone). */
export const readPeakRssKb = (pid: number): number | null => readStatusKb(pid, 'VmHWM')

/** Polls `VmRSS` until `stop()`, which returns the highest value seen (KiB), or `null` when none could be read. */
export const watchRss = (pid: number, intervalMs = 50): { stop(): number | null } => {
  let peak: number | null = readStatusKb(pid, 'VmRSS')
  const sample = (): void => {
    const current = readStatusKb(pid, 'VmRSS')
    if (current !== null && (peak === null || current > peak)) peak = current
  }
  const timer = setInterval(sample, intervalMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return peak
    },
  }
}
