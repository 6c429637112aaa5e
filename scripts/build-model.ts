/**
 * `npm run model:build [-- --out <dir>]`: writes the tiny model that ships with Gatehouse to
 * `models/gatehouse-tiny/<version>/` (or `<dir>`), from nothing but Node: the same bytes on every run.
 * `npm ci` runs it through `prepare`; the folder is not committed.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { tinyModelName, tinyModelVersion, writeTinyModel } from './tiny-model/write-tiny-model.ts'

const { values } = parseArgs({ options: { out: { type: 'string' } } })
const root = fileURLToPath(new URL('..', import.meta.url))
const directory = values.out
  ? resolve(values.out)
  : resolve(root, 'models', tinyModelName, String(tinyModelVersion))

const started = performance.now()
const written = await writeTinyModel(directory)
const seconds = ((performance.now() - started) / 1000).toFixed(2)
console.log(
  `${tinyModelName}/${tinyModelVersion}: ${written.parameters.toLocaleString('en')} parameters, ` +
    `written to ${written.directory} in ${seconds} s`
)
for (const file of written.files) {
  console.log(`  ${file.path.padEnd(28)} ${file.bytes.toLocaleString('en').padStart(12)} bytes`)
}
