/** A generated model where Transformers.js loads it offline, for the tests that check it does. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { env } from '@huggingface/transformers'
import { vi } from 'vitest'

export interface OfflineModel {
  /** The model's folder, `<name>/<version>` in the temporary models folder (`env.localModelPath`). */
  folder: string
  /** Its id there, `<name>/<version>`. */
  id: string
  /** Restores `fetch` and removes the temporary models folder. */
  close: () => Promise<void>
}

/**
 * Writes a model with `write` into `<root>/<name>/<version>`, `root` a new temporary folder (its name starting with
 * `prefix`), and points Transformers.js at `root` alone: no remote models, and `fetch` stubbed to fail, so that any
 * download attempt fails the suite. If writing fails, `fetch` is restored and `root` removed again.
 */
export const openOfflineModel = async (
  prefix: string,
  name: string,
  version: number,
  write: (directory: string) => Promise<unknown>
): Promise<OfflineModel> => {
  vi.stubGlobal('fetch', () => Promise.reject(new Error('no network in this test')))
  env.allowRemoteModels = false
  const root = await mkdtemp(join(tmpdir(), prefix))
  const folder = join(root, name, String(version))
  const close = async (): Promise<void> => {
    vi.unstubAllGlobals()
    await rm(root, { recursive: true, force: true })
  }
  try {
    await write(folder)
  } catch (error) {
    await close()
    throw error
  }
  env.localModelPath = root
  return { folder, id: `${name}/${version}`, close }
}
