/**
 * Finds the model folders a `local` provider serves under its directory. A model is `<directory>/<name>/` holding the
 * export itself, or `<directory>/<name>/<version>/` folders of which the highest version is served (versions compare
 * as numbers where they are numbers: 10 comes after 9, 1.10 after 1.9). Named models must be there; without names,
 * every subfolder that holds a model (a `config.json`, at its top or in a version folder) is one, and other folders
 * are not models at all. Either way a model folder that is broken stops the start, naming the folder.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  readModelFolder,
  type LocalModelDtype,
  type ModelFolderFacts,
} from './read-model-folder.ts'

export type LocalModel = ModelFolderFacts & {
  /** As clients name it after the provider id (`local/<name>`). */
  name: string
  /** The version folder served; `null` for an unversioned folder. */
  version: string | null
  folder: string
}

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const subfolders = (path: string): string[] =>
  readdirSync(path, { withFileTypes: true })
    .filter(
      (entry) =>
        !entry.name.startsWith('.') && (entry.isDirectory() || isDirectory(join(path, entry.name)))
    )
    .map((entry) => entry.name)

const compareVersions = (a: string, b: string): number =>
  a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' })

/** The folder to serve for the model at `path`, or `null` when nothing there is a model. */
const servedFolder = (path: string): { folder: string; version: string | null } | null => {
  if (existsSync(join(path, 'config.json'))) return { folder: path, version: null }
  const versions = subfolders(path)
    .filter((name) => existsSync(join(path, name, 'config.json')))
    .sort(compareVersions)
  const highest = versions.at(-1)
  return highest === undefined ? null : { folder: join(path, highest), version: highest }
}

/**
 * Whether `directory` exists and holds a model folder (`<name>/` or `<name>/<version>/` with a `config.json`),
 * without checking it: what the Node runtime asks before serving the local models by default.
 */
export const holdsLocalModels = (directory: string): boolean =>
  isDirectory(directory) &&
  subfolders(directory).some((name) => servedFolder(join(directory, name)) !== null)

/** Throws an `Error` whose message lists every problem (one per line), each naming its folder. */
export const findLocalModels = (options: {
  /** Absolute. */
  directory: string
  /** `null`: every model under `directory`. */
  names: readonly string[] | null
  dtype: LocalModelDtype
}): LocalModel[] => {
  const { directory, names, dtype } = options
  if (!isDirectory(directory))
    throw new Error(`the model directory ${directory} does not exist (or is not a directory)`)
  const problems: string[] = []
  const models: LocalModel[] = []
  for (const name of names ?? subfolders(directory)) {
    const path = join(directory, name)
    const served = isDirectory(path) ? servedFolder(path) : null
    if (served === null) {
      if (names !== null)
        problems.push(
          `model ${name}: no model folder at ${path} (a config.json there, or in a version folder below it)`
        )
      continue
    }
    try {
      models.push({ name, ...served, ...readModelFolder(served.folder, dtype) })
    } catch (error) {
      problems.push(`model ${name}: ${(error as Error).message}`)
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'))
  if (models.length === 0)
    throw new Error(
      `no model under ${directory}: each model is a folder (<name>/ or <name>/<version>/) in the Hugging Face ONNX layout`
    )
  return models
}
