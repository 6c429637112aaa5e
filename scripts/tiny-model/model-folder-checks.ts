/** What the model writers' tests read back from a written model folder, and the checks every writer must pass. */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { expect } from 'vitest'
import type { WrittenModel } from './write-model-folder.ts'

/** The paths of the files under `directory`, relative to it, sorted. */
export const listFiles = async (directory: string): Promise<string[]> =>
  (await readdir(directory, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)))
    .sort()

/** The sha256 of every file under `directory`, by its relative path. */
export const hashFiles = async (directory: string): Promise<Record<string, string>> =>
  Object.fromEntries(
    await Promise.all(
      (await listFiles(directory)).map(async (path) => [
        path,
        createHash('sha256')
          .update(await readFile(join(directory, path)))
          .digest('hex'),
      ])
    )
  )

export const readJson = async (path: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path, 'utf8'))

/**
 * Writes a model twice with `write`, into `<root>/first` and `<root>/second`, and checks what every model writer
 * promises: exactly the files of `layout`, the same bytes and the same report both times, a tiny model (200,000 to
 * 1,000,000 parameters), float32 weights and an int8 file about a quarter of their size. Returns the first report;
 * `<root>/first` stays for the test file's other checks.
 */
export const expectSameBytesOnEveryRun = async (
  write: (directory: string) => Promise<WrittenModel>,
  root: string,
  layout: string[]
): Promise<WrittenModel> => {
  const first = await write(join(root, 'first'))
  const second = await write(join(root, 'second'))
  expect(await listFiles(join(root, 'first'))).toEqual(layout)
  expect(await hashFiles(join(root, 'second'))).toEqual(await hashFiles(join(root, 'first')))
  expect(second).toEqual({ ...first, directory: join(root, 'second') })
  expect(first.parameters).toBeGreaterThan(200_000)
  expect(first.parameters).toBeLessThan(1_000_000)
  const sizes = Object.fromEntries(first.files.map((file) => [file.path, file.bytes]))
  // Float32 weights, and about a quarter of that in int8.
  expect(sizes['onnx/model.onnx']).toBeGreaterThan(first.parameters * 4)
  expect(sizes['onnx/model_quantized.onnx']).toBeLessThan(sizes['onnx/model.onnx'] / 3)
  return first
}
