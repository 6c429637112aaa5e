import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** What a model writer wrote: the folder, the parameter count, and each file's path (relative) and size. */
export interface WrittenModel {
  directory: string
  parameters: number
  files: { path: string; bytes: number }[]
}

/**
 * Writes a model folder at `directory` from its files (by path in the folder), replacing what was there. The files
 * go to a sibling folder first, which then takes the final name: a reader finds the old model, no folder, or the new
 * model, never half of one.
 */
export const writeModelFolder = async (
  directory: string,
  files: ReadonlyMap<string, string | Uint8Array>,
  parameters: number
): Promise<WrittenModel> => {
  const staging = `${directory}.partial-${process.pid}`
  await rm(staging, { recursive: true, force: true })
  for (const [path, content] of files) {
    const target = join(staging, path)
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, content)
  }
  await rm(directory, { recursive: true, force: true })
  await rename(staging, directory)
  return {
    directory,
    parameters,
    files: [...files].map(([path, content]) => ({
      path,
      bytes: typeof content === 'string' ? Buffer.byteLength(content) : content.length,
    })),
  }
}
