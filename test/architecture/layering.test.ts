/**
 * The dependency rules of docs/architecture.md, checked on the source itself: the core imports no adapter, no runtime
 * file and not `Deps`; providers never import the app; runtime-only modules stay at the edges; and no module imports
 * itself back through a chain (type-only imports included: a type cycle is a design cycle too).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = normalize(join(import.meta.dirname, '..', '..'))
const sourceFolders = ['src', 'providers', 'config']

const listSources = (folder: string): string[] =>
  readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) return entry.name === '__fixtures__' ? [] : listSources(path)
    return entry.name.endsWith('.ts') &&
      !entry.name.endsWith('.test.ts') &&
      !entry.name.endsWith('.d.ts')
      ? [path]
      : []
  })

const importPattern = /^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gm

/** Every module's relative imports, as paths from the repository root. */
const graph = new Map<string, string[]>(
  sourceFolders.flatMap(listSources).map((file) => {
    const text = readFileSync(join(root, file), 'utf8')
    const targets = [...text.matchAll(importPattern)]
      .map((match) => match[1])
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => relative(root, join(root, dirname(file), specifier)))
    return [file, targets]
  })
)

const importsOf = (prefix: string): [string, string][] =>
  [...graph].flatMap(([file, targets]) =>
    file.startsWith(prefix) ? targets.map((target): [string, string] => [file, target]) : []
  )

describe('layering', () => {
  it('finds the sources it checks', () => {
    expect(graph.size).toBeGreaterThan(100)
    expect(graph.get('src/core/execute.ts')?.length).toBeGreaterThan(5)
  })

  it('the core imports no adapter, no runtime file, no route or middleware, and not Deps', () => {
    const forbidden =
      /^(providers\/(?!spec\/|shared\/)|src\/(runtime|api|middleware)\/|src\/deps\.ts$|src\/app\.ts$)/
    expect(importsOf('src/core/').filter(([, target]) => forbidden.test(target))).toEqual([])
  })

  it('providers import nothing of the app, and adapters import no other adapter', () => {
    expect(importsOf('providers/').filter(([, target]) => target.startsWith('src/'))).toEqual([])
    const crossAdapter = importsOf('providers/').filter(([file, target]) => {
      const [, own] = file.split('/')
      const [, other] = target.split('/')
      return !['spec', 'shared'].includes(other) && own !== other
    })
    expect(crossAdapter).toEqual([])
  })

  it('only the runtime folder imports adapters (through the factories it passes to the registry)', () => {
    const adapterImports = [...graph]
      .flatMap(([file, targets]) =>
        targets
          .filter((target) => /^providers\/(?!spec\/)[^/]+\/[^/]+-adapter\.ts$/.test(target))
          .map(() => file)
      )
      .filter((file) => !file.startsWith('providers/'))
    expect(adapterImports.length).toBeGreaterThan(0)
    expect(adapterImports.filter((file) => !file.startsWith('src/runtime/'))).toEqual([])
  })

  it('the Workers entry reaches no Node-only module: not the local model, not the Node runtime', () => {
    const reached = new Set<string>()
    const visit = (file: string): void => {
      if (reached.has(file)) return
      reached.add(file)
      for (const target of graph.get(file) ?? []) visit(target)
    }
    visit('src/runtime/workers.ts')
    expect(reached.has('src/runtime/workers-deps.ts')).toBe(true)
    expect([...reached].filter((file) => file.startsWith('providers/local/'))).toEqual([])
    expect([...reached].filter((file) => /^src\/runtime\/(node|local-)/.test(file))).toEqual([])
  })

  it('has no import cycle', () => {
    const cycles: string[][] = []
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file])
        return
      }
      state.set(file, 'visiting')
      for (const target of graph.get(file) ?? []) visit(target, [...path, file])
      state.set(file, 'done')
    }
    for (const file of graph.keys()) visit(file, [])
    expect(cycles).toEqual([])
  })
})
