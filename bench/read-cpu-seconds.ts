/**
 * CPU time a process has used (user + system), from `/proc/<pid>/stat` fields 14 and 15, in clock ticks
 * (`getconf CLK_TCK`). The benchmark turns it into utilisation per run: a target near 100% of its core is the
 * bottleneck, as it should be; a mock and load generator near 100% of theirs mean the run measured them instead.
 * https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

const clockTicks = (): number => {
  if (ticksPerSecond === undefined) {
    const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
    const value = Number(probe.stdout?.trim())
    ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100
  }
  return ticksPerSecond
}

/** `null` when /proc is not readable (not Linux, or the process is gone). */
export const readCpuSeconds = (pid: number): number | null => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const userTicks = Number(fields[11])
  const systemTicks = Number(fields[12])
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) return null
  return (userTicks + systemTicks) / clockTicks()
}

/**
 * Busy CPU time of the whole machine, all cores summed (the `cpu` line of `/proc/stat`, idle and iowait left out):
 * minus what the benchmark's own processes used, it shows whether something else was running.
 * https://man7.org/linux/man-pages/man5/proc_stat.5.html
 */
export const readMachineBusySeconds = (): number | null => {
  const fields = machineCpuFields()
  if (fields === null) return null
  const [user, nice, system, , , irq, softirq, steal] = fields
  const busy = [user, nice, system, irq, softirq, steal ?? 0].reduce((sum, value) => sum + value, 0)
  return Number.isFinite(busy) ? busy / clockTicks() : null
}

/**
 * Steal time of the whole machine, all cores summed (the `cpu` line's eighth field): time this virtual machine's
 * cores were ready to run and the hypervisor ran something else. Part of `readMachineBusySeconds`, and none of the
 * benchmark's processes': on a shared host it is what "the machine was not quiet" mostly was (2026-12-07: a fifth of
 * the two cores at times).
 */
export const readMachineStealSeconds = (): number | null => {
  const steal = machineCpuFields()?.[7]
  return steal === undefined || !Number.isFinite(steal) ? null : steal / clockTicks()
}

/** The numbers of `/proc/stat`'s `cpu` line (user, nice, system, idle, iowait, irq, softirq, steal...), in ticks. */
const machineCpuFields = (): number[] | null => {
  let stat: string
  try {
    stat = readFileSync('/proc/stat', 'utf8')
  } catch {
    return null
  }
  return stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number)
}
