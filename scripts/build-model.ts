/**
 * `npm run model:build [-- --out <dir>]`: writes the two tiny models that ship with Gatehouse, from nothing but Node
 * and the same bytes on every run, into the models folder (`models/`, or `<dir>`), each in its versioned folder:
 * `<name>/<version>/`, the layout the local provider reads. `gatehouse-tiny` is a causal LM for chat,
 * `gatehouse-tiny-embed` an encoder for `/v1/embeddings`. `npm ci` runs it through `prepare`; the folders are not
 * committed.
 */
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  embeddingModelName,
  embeddingModelVersion,
  writeEmbeddingModel,
} from './tiny-model/write-embedding-model.ts'
import { tinyModelName, tinyModelVersion, writeTinyModel } from './tiny-model/write-tiny-model.ts'
import type { WrittenModel } from './tiny-model/write-model-folder.ts'

const { values } = parseArgs({ options: { out: { type: 'string' } } })
const root = fileURLToPath(new URL('..', import.meta.url))
const modelsFolder = values.out ? resolve(values.out) : join(root, 'models')

const models: [string, number, (directory: string) => Promise<WrittenModel>][] = [
  [tinyModelName, tinyModelVersion, writeTinyModel],
  [embeddingModelName, embeddingModelVersion, writeEmbeddingModel],
]
for (const [name, version, write] of models) {
  const started = performance.now()
  const written = await write(join(modelsFolder, name, String(version)))
  const seconds = ((performance.now() - started) / 1000).toFixed(2)
  console.log(
    `${name}/${version}: ${written.parameters.toLocaleString('en')} parameters, ` +
      `written to ${written.directory} in ${seconds} s`
  )
  for (const file of written.files) {
    console.log(`  ${file.path.padEnd(28)} ${file.bytes.toLocaleString('en').padStart(12)} bytes`)
  }
}
