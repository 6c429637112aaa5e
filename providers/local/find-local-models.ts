/**
 * Finds the model folders a `local` provider serves under its directory. A model is `<directory>/<name>/` holding the
 * export itself, or `<directory>/<name>/<version>/` folders, of which the highest version is served unless a version is
 * pinned (`versions`: the provider's config, or an activation kept from an earlier run). Versions compare as numbers
 * where they are numbers: 10 comes after 9, 1.10 after 1.9. Named models must be there; without names, every
 * subfolder that holds a model (a `config.json`, at its top or in a version folder) is one, and other folders are not
 * models at all. Either way a model folder that is broken, or a pinned version that is not there, stops the start,
 * naming the folder. `findLocalModelVersion` reads one version of one model, for an activation while serving.
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
  /** The weights it runs. */
  dtype: LocalModelDtype
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

/** The version folders of the model at `path` (subfolders holding a `config.json`), lowest first. */
const versionsAt = (path: string): string[] =>
  subfolders(path)
    .filter((name) => existsSync(join(path, name, 'config.json')))
    .sort(compareVersions)

/** How the model at `path` is laid out, or `null` when nothing there is a model. */
const layoutOf = (path: string): { unversioned: boolean; versions: string[] } | null => {
  if (!isDirectory(path)) return null
  if (existsSync(join(path, 'config.json'))) return { unversioned: true, versions: [] }
  const versions = versionsAt(path)
  return versions.length === 0 ? null : { unversioned: false, versions }
}

/** The version folders of model `name` on disk now, lowest first: empty for an unversioned folder or none. */
export const listLocalModelVersions = (directory: string, name: string): string[] =>
  layoutOf(join(directory, name))?.versions ?? []

/**
 * The folder to serve for model `name` (`version`: that version folder; `null`: the highest, or the unversioned
 * folder). Throws an `Error` saying what is not there.
 */
const servedFolder = (
  directory: string,
  name: string,
  version: string | null
): { folder: string; version: string | null } => {
  const path = join(directory, name)
  const layout = layoutOf(path)
  if (layout === null)
    throw new Error(
      `no model folder at ${path} (a config.json there, or in a version folder below it)`
    )
  if (version === null)
    return layout.unversioned
      ? { folder: path, version: null }
      : { folder: join(path, layout.versions.at(-1)!), version: layout.versions.at(-1)! }
  if (layout.unversioned)
    throw new Error(
      `version ${version} asked for, but ${path} is an unversioned model folder (its config.json is at its top): move it into ${join(path, '1')} to give it versions`
    )
  if (!layout.versions.includes(version))
    throw new Error(
      `no version ${version} at ${join(path, version)} (versions there: ${layout.versions.join(', ')})`
    )
  return { folder: join(path, version), version }
}

/** Version `version` of model `name` (`null`: the highest), checked; throws an `Error` naming the folder. */
export const findLocalModelVersion = (options: {
  /** Absolute. */
  directory: string
  name: string
  version: string | null
  dtype: LocalModelDtype
}): LocalModel => {
  const served = servedFolder(options.directory, options.name, options.version)
  return {
    name: options.name,
    ...served,
    dtype: options.dtype,
    ...readModelFolder(served.folder, options.dtype),
  }
}

/**
 * Whether `directory` exists and holds a model folder (`<name>/` or `<name>/<version>/` with a `config.json`),
 * without checking it: what the Node runtime asks before serving the local models by default.
 */
export const holdsLocalModels = (directory: string): boolean =>
  isDirectory(directory) &&
  subfolders(directory).some((name) => layoutOf(join(directory, name)) !== null)

/** Throws an `Error` whose message lists every problem (one per line), each naming its folder. */
export const findLocalModels = (options: {
  /** Absolute. */
  directory: string
  /** `null`: every model under `directory`. */
  names: readonly string[] | null
  /** The weights of every model but those `dtypes` names. */
  dtype: LocalModelDtype
  dtypes?: Readonly<Record<string, LocalModelDtype>>
  /** The version to serve of each model named (default: its highest). */
  versions?: Readonly<Record<string, string>>
}): LocalModel[] => {
  const { directory, names } = options
  const versions = options.versions ?? {}
  const dtypes = options.dtypes ?? {}
  if (!isDirectory(directory))
    throw new Error(`the model directory ${directory} does not exist (or is not a directory)`)
  const problems: string[] = []
  const models: LocalModel[] = []
  const candidates = names ?? subfolders(directory)
  for (const name of candidates) {
    const pinned = versions[name] ?? null
    // Discovered subfolders that hold no model are not models; a name the config gives or pins must be one.
    if (names === null && pinned === null && layoutOf(join(directory, name)) === null) continue
    try {
      models.push(
        findLocalModelVersion({
          directory,
          name,
          version: pinned,
          dtype: dtypes[name] ?? options.dtype,
        })
      )
    } catch (error) {
      problems.push(`model ${name}: ${(error as Error).message}`)
    }
  }
  for (const [setting, what] of [
    [versions, 'a version is pinned'],
    [dtypes, 'a dtype is set'],
  ] as const)
    for (const name of Object.keys(setting))
      if (!candidates.includes(name))
        problems.push(
          names === null
            ? `model ${name}: ${what}, but there is no model folder at ${join(directory, name)}`
            : `model ${name}: ${what}, but the provider's models do not include it (${names.join(', ')})`
        )
  if (problems.length > 0) throw new Error(problems.join('\n'))
  if (models.length === 0)
    throw new Error(
      `no model under ${directory}: each model is a folder (<name>/ or <name>/<version>/) in the Hugging Face ONNX layout`
    )
  return models
}
