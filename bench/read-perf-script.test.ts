import { describe, expect, it } from 'vitest'
import {
  breakDownPerfSamples,
  callersOf,
  groupOf,
  parsePerfScript,
  readPerfScriptArgs,
  type PerfSample,
} from './read-perf-script.ts'

/** `perf script` output of three samples with call graphs (`perf record -g`), as perf prints it. */
const script = [
  'node 4242  1989.233684:     125000 cpu-clock: ',
  '\t          108cae epoll_pwait+0x6e (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  'node 4242  1989.233800:     125000 cpu-clock: ',
  '\tffffffff8a1b2c3d sock_def_readable+0x4d ([kernel.kallsyms])',
  '\tffffffff8a1b0000 tcp_sendmsg+0x2c ([kernel.kallsyms])',
  '\tffffffff8a100000 do_writev+0x6b ([kernel.kallsyms])',
  '\tffffffff8a0f0000 do_syscall_64+0x80 ([kernel.kallsyms])',
  '\tffffffff8a0e0000 entry_SYSCALL_64_after_hwframe+0x76 ([kernel.kallsyms])',
  '\t          117a0e __writev+0x4e (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  'node 4250  1989.334144:     125000 cpu-clock: ',
  '\t    7efea60dc6ff JS:*listOnTimeout node:internal/timers:524:25+0x3ff (/tmp/perf-4242.map)',
  '\t         14ce0dc Builtins_JSEntryTrampoline+0x5c (/usr/bin/node)',
  '',
].join('\n')

const sample = (symbol: string, object = '/usr/bin/node'): PerfSample => ({
  thread: 'node 1',
  frames: [{ symbol, object }],
})

describe('readPerfScriptArgs', () => {
  it('keeps both files without --top (it once dropped the first, so two files read as one)', () => {
    expect(readPerfScriptArgs(['a.data', 'b.data'])).toEqual({
      files: ['a.data', 'b.data'],
      top: 30,
      callers: null,
    })
  })

  it('takes --top and --callers with their values from anywhere', () => {
    expect(
      readPerfScriptArgs(['a.data', '--top', '5', 'b.data', '--callers', 'V8 strings'])
    ).toEqual({ files: ['a.data', 'b.data'], top: 5, callers: 'V8 strings' })
  })
})

describe('parsePerfScript', () => {
  it('reads each sample: its thread, and its frames from the leaf up without their offsets', () => {
    const samples = parsePerfScript(script)
    expect(samples).toHaveLength(3)
    expect(samples[0]).toEqual({
      thread: 'node 4242',
      frames: [{ symbol: 'epoll_pwait', object: '/usr/lib/x86_64-linux-gnu/libc.so.6' }],
    })
    expect(samples[1].frames.map((frame) => frame.symbol)).toEqual([
      'sock_def_readable',
      'tcp_sendmsg',
      'do_writev',
      'do_syscall_64',
      'entry_SYSCALL_64_after_hwframe',
      '__writev',
    ])
    expect(samples[2].thread).toBe('node 4250')
    expect(samples[2].frames[0]).toEqual({
      symbol: 'JS:*listOnTimeout node:internal/timers:524:25',
      object: '/tmp/perf-4242.map',
    })
  })

  it('takes the one frame of the header line when perf recorded no call graphs', () => {
    const [only] = parsePerfScript(
      'node 4242  1989.1:     125000 cpu-clock:          14d336c Builtins_KeyedLoadIC_Megamorphic+0xec (/usr/bin/node)\n'
    )
    expect(only.frames).toEqual([
      { symbol: 'Builtins_KeyedLoadIC_Megamorphic', object: '/usr/bin/node' },
    ])
  })
})

describe('groupOf', () => {
  it('puts a kernel sample under its system call', () => {
    expect(groupOf(parsePerfScript(script)[1])).toBe('kernel: writev')
    const fault: PerfSample = {
      thread: 'node 1',
      frames: [
        { symbol: 'clear_page_erms', object: '[kernel.kallsyms]' },
        { symbol: 'asm_exc_page_fault', object: '[kernel.kallsyms]' },
      ],
    }
    expect(groupOf(fault)).toBe('kernel: page faults')
  })

  it("names V8's parts, SQLite and the JIT's code by where it comes from", () => {
    expect(groupOf(sample('v8::internal::Scavenger::ScavengePage'))).toBe('V8 garbage collector')
    expect(groupOf(sample('Builtins_ResumeGeneratorTrampoline'))).toBe(
      'V8 promises and async functions'
    )
    expect(groupOf(sample('v8::internal::JsonParser<unsigned char>::ParseJsonValue<false>'))).toBe(
      'V8 JSON'
    )
    expect(groupOf(sample('Builtins_LoadIC_Megamorphic'))).toBe(
      'V8 property access (inline-cache misses)'
    )
    expect(groupOf(sample('sqlite3VdbeExec', '/x/build/Release/better_sqlite3.node'))).toBe(
      'SQLite'
    )
    expect(
      groupOf(
        sample(
          'JS:*writeH1 /x/node_modules/undici/lib/dispatcher/client-h1.js:1144:18',
          'perf-1.map'
        )
      )
    ).toBe('JS undici')
    expect(
      groupOf(
        sample(
          'JS:*get file:///x/node_modules/@hono/node-server/dist/index.mjs:113:5',
          'perf-1.map'
        )
      )
    ).toBe('JS @hono/node-server')
    expect(
      groupOf(sample('JS:*execute file:///x/dist/src/core/execute.js:323:21', 'perf-1.map'))
    ).toBe('JS dist/src/core')
    expect(groupOf(sample('7efea60dc6ff', '[JIT] tid 4242'))).toBe('JIT code without a name')
    expect(groupOf(sample('malloc', '/usr/lib/x86_64-linux-gnu/libc.so.6'))).toBe(
      'libc (malloc, free, copies)'
    )
  })
})

describe('callersOf', () => {
  const stack = (...symbols: string[]): PerfSample => ({
    thread: 'node 1',
    frames: symbols.map((symbol) => ({ symbol, object: '/usr/bin/node' })),
  })

  it("names the nearest JavaScript function above each of a group's samples, without the JIT's tier mark", () => {
    const samples = [
      stack(
        'Builtins_StringAdd_CheckNone',
        'JS:*endOf file:///gh/dist/src/api/respond-chat.js:8:15',
        'JS:~handleChat file:///gh/dist/src/api/handle-chat.js:1:1'
      ),
      stack(
        'Builtins_StringAdd_CheckNone',
        'JS:^endOf file:///gh/dist/src/api/respond-chat.js:8:15'
      ),
      stack('Builtins_StringSlowFlatten', 'Builtins_JSEntryTrampoline'),
      stack('Builtins_JsonParse', 'JS:*endOf file:///gh/dist/src/api/respond-chat.js:8:15'),
    ]
    expect(Object.fromEntries(callersOf(samples, 'V8 strings'))).toEqual({
      'endOf file:///gh/dist/src/api/respond-chat.js:8:15': 2,
      '(no JavaScript)': 1,
    })
    expect(Object.fromEntries(callersOf(samples, 'JSON'))).toEqual({
      'endOf file:///gh/dist/src/api/respond-chat.js:8:15': 1,
    })
  })
})

describe('breakDownPerfSamples', () => {
  it('counts the samples of each group and of each thread', () => {
    const breakdown = breakDownPerfSamples(parsePerfScript(script))
    expect(breakdown.samples).toBe(3)
    expect(Object.fromEntries(breakdown.threads)).toEqual({ 'node 4242': 2, 'node 4250': 1 })
    expect(Object.fromEntries(breakdown.groups)).toEqual({
      'libc (malloc, free, copies)': 1,
      'kernel: writev': 1,
      'JS node:internal/timers': 1,
    })
  })
})
