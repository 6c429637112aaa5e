/**
 * `/v1/embeddings` from the local embedding model through the gateway as shipped (`startNodeServer`, real sockets),
 * with the official OpenAI SDK (which asks for base64 unless told otherwise) and raw requests whose bodies are checked
 * against OpenAI's OpenAPI document: floats and base64 give the same float32 values, a batch answers in input order,
 * token ids embed like their text, usage counts the tokens; what the model cannot take is a 400 in OpenAI's shape.
 * The gateway's own machinery works on them unchanged: the prompt cache answers a repeat, a route falls back to the
 * local model, the usage line has the tokens. Throughput is printed for batches of 1 and 16 inputs of ~32 tokens.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AutoTokenizer } from '@huggingface/transformers'
import type { PreTrainedTokenizer } from '@huggingface/transformers'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  embeddingModelName,
  writeEmbeddingModel,
} from '../../scripts/tiny-model/write-embedding-model.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import type { NodeServer } from '../../src/runtime/node.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from '../helpers/openapi-validator.ts'
import { startTestGateway } from '../helpers/start-test-gateway.ts'

const masterKey = 'gh-local-embeddings-key'
const model = `local/${embeddingModelName}`

let root: string
let gateway: NodeServer & { cwd: string }
let openai: OpenAI
let tokenizer: PreTrainedTokenizer
const logLines: Record<string, unknown>[] = []

beforeAll(async () => {
  preloadOpenAIValidator()
  root = await mkdtemp(join(tmpdir(), 'local-embeddings-gateway-'))
  const embedFolder = join(root, 'models', embeddingModelName, '1')
  await writeEmbeddingModel(embedFolder)
  await writeTinyModel(join(root, 'models', tinyModelName, '1'))
  gateway = await startTestGateway({
    config: [
      'providers:',
      '  local:',
      '    type: local',
      `    directory: ${join(root, 'models')}`,
      // Nothing listens there: every call to it fails to connect.
      '  away:',
      '    type: openai-compatible',
      '    baseUrl: http://127.0.0.1:9/v1',
      '    apiKey: sk-away',
      'routes:',
      '  - name: vectors',
      '    targets:',
      '      - { provider: away, model: text-embedding-3-small }',
      `      - { provider: local, model: ${embeddingModelName} }`,
      '    retry: { maxRetries: 0 }',
      '    cache: { enabled: true }',
    ],
    env: { GATEHOUSE_MASTER_KEY: masterKey, LOG_LEVEL: 'info', USAGE_LOG: 'true' },
    stdout: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>),
  })
  openai = new OpenAI({ apiKey: masterKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 })
  tokenizer = await AutoTokenizer.from_pretrained(embedFolder)
}, 60_000)

afterAll(async () => {
  await gateway?.close()
  await rm(root, { recursive: true, force: true })
})

/** A raw POST, for the body as the gateway wrote it (the SDK decodes base64 before the caller sees it). */
const post = async (
  body: Record<string, unknown>,
  headers: Record<string, string> = {}
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> => {
  const response = await fetch(`${gateway.url}/v1/embeddings`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${masterKey}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
  })
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Record<string, unknown>,
  }
}

const caught = async (promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> => {
  const error = await promise.then(
    () => null,
    (failure: unknown) => failure
  )
  expect(error).toBeInstanceOf(OpenAI.APIError)
  return error as InstanceType<typeof OpenAI.APIError>
}

const tokensOf = (text: string): number => tokenizer.encode(text).length

const texts = [
  'The cat sat on the mat.',
  'hi',
  'Gatehouse answers from a local model when every provider is out of reach.',
]

type EmbeddingItem = { object: string; index: number; embedding: number[] | string }

describe('local embeddings through the gateway', () => {
  it('answers the official SDK (base64 by default) with the float32 values a float request gets', async () => {
    const response = await openai.embeddings.create({ model, input: texts }).withResponse()
    expect(response.response.headers.get('x-gatehouse-provider')).toBe('local')
    const sdk = response.data
    expect(sdk.data.map((item) => item.index)).toEqual([0, 1, 2])
    for (const item of sdk.data) {
      expect(item.embedding).toHaveLength(128)
      expect(Math.hypot(...item.embedding)).toBeCloseTo(1, 5)
    }
    const total = texts.reduce((sum, text) => sum + tokensOf(text), 0)
    expect(sdk.usage).toEqual({ prompt_tokens: total, total_tokens: total })
    expect(sdk.model).toBe(embeddingModelName)

    const floats = await openai.embeddings.create({ model, input: texts, encoding_format: 'float' })
    expect(floats.data.map((item) => item.embedding)).toEqual(
      sdk.data.map((item) => item.embedding)
    )
  })

  it("writes bodies OpenAI's OpenAPI document accepts, floats or base64 of 128 little-endian float32s", async () => {
    for (const encoding_format of ['float', 'base64'] as const) {
      const { status, json } = await post({ model, input: texts, encoding_format, user: 'u-1' })
      expect(status).toBe(200)
      const data = json.data as EmbeddingItem[]
      if (encoding_format === 'float') {
        expectValidOpenAI('CreateEmbeddingResponse', json)
        expect(data[0].embedding).toHaveLength(128)
        continue
      }
      // The document types `embedding` as floats only, though the API answers base64 as a string (wire-notes §6):
      // each string must be 128 little-endian float32s, and with them decoded the body must be valid.
      const floats = (await post({ model, input: texts })).json.data as EmbeddingItem[]
      const decoded = data.map((item) => {
        expect(typeof item.embedding).toBe('string')
        const bytes = Uint8Array.from(atob(item.embedding as string), (c) => c.charCodeAt(0))
        expect(bytes.byteLength).toBe(128 * 4)
        const view = new DataView(bytes.buffer)
        const values = Array.from({ length: 128 }, (_, k) => view.getFloat32(k * 4, true))
        expect(values).toEqual(floats[item.index].embedding)
        return { ...item, embedding: values }
      })
      expectValidOpenAI('CreateEmbeddingResponse', { ...json, data: decoded })
    }
  })

  it('embeds a batch in input order, each input as it embeds alone, and token ids as their text', async () => {
    const batch = Array.from({ length: 16 }, (_, index) => `${index}: ${texts[index % 3]}`)
    const together = await openai.embeddings.create({ model, input: batch })
    expect(together.data.map((item) => item.index)).toEqual(batch.map((_, index) => index))
    for (const index of [0, 7, 15]) {
      const alone = await openai.embeddings.create({ model, input: batch[index] })
      const difference = together.data[index].embedding.reduce(
        (largest, value, k) => Math.max(largest, Math.abs(value - alone.data[0].embedding[k])),
        0
      )
      expect(difference).toBeLessThan(1e-5)
    }
    const ids = texts.map((text) => tokenizer.encode(text))
    const fromIds = await openai.embeddings.create({ model, input: ids })
    const fromText = await openai.embeddings.create({ model, input: texts })
    fromIds.data.forEach((item, index) => {
      const expected = fromText.data[index].embedding
      item.embedding.forEach((value, k) => expect(value).toBeCloseTo(expected[k], 6))
    })
    expect(fromIds.usage).toEqual(fromText.usage)
    const oneArray = await openai.embeddings.create({ model, input: ids[0] })
    expect(oneArray.data).toHaveLength(1)
    expect(oneArray.usage.prompt_tokens).toBe(ids[0].length)
  })

  it("refuses with OpenAI's 400 what the model cannot take: too long, empty, foreign ids, dimensions, a chat model", async () => {
    const tooLong = await caught(
      openai.embeddings.create({ model, input: ['hi', 'x '.repeat(600)] })
    )
    expect(tooLong.status).toBe(400)
    expect(tooLong).toMatchObject({ code: 'context_length_exceeded', param: 'input' })
    expect(tooLong.message).toMatch(
      /input\[1\] has \d+ tokens; `local\/gatehouse-tiny-embed` takes at most 512 tokens per input/
    )
    const empty = await caught(openai.embeddings.create({ model, input: '' }))
    expect(empty).toMatchObject({ status: 400, param: 'input' })
    const foreign = await caught(openai.embeddings.create({ model, input: [[1, 2, 4000]] }))
    expect(foreign).toMatchObject({ status: 400, param: 'input' })
    const dimensions = await caught(
      openai.embeddings.create({ model, input: 'hi', dimensions: 64 })
    )
    expect(dimensions).toMatchObject({ status: 400, param: 'dimensions' })
    expect(
      (await openai.embeddings.create({ model, input: 'hi', dimensions: 128 })).data[0].embedding
    ).toHaveLength(128)

    const chatModel = await caught(
      openai.embeddings.create({ model: `local/${tinyModelName}`, input: 'hi' })
    )
    expect(chatModel).toMatchObject({ status: 400, param: 'model' })
    expect(chatModel.error).toMatchObject({
      message:
        "`local/gatehouse-tiny` is a chat model: it cannot create embeddings. This provider's embedding models: local/gatehouse-tiny-embed.",
      type: 'invalid_request_error',
    })
    const chatOnEmbedding = await caught(
      openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })
    )
    expect(chatOnEmbedding).toMatchObject({ status: 400, param: 'model' })
    expect(chatOnEmbedding.message).toMatch(/is an embedding model: it serves \/v1\/embeddings/)
  })

  it('falls back to the local model on a route, caches its answer, and records its tokens', async () => {
    const body = { model: 'vectors', input: ['fallback', 'and cache'], encoding_format: 'base64' }
    const first = await post(body)
    expect(first.status).toBe(200)
    expect(first.headers.get('x-gatehouse-provider')).toBe('local')
    expect(first.headers.get('x-gatehouse-attempts')).toBe('2')
    expect(first.headers.get('x-gatehouse-cache')).toBe('miss')
    const second = await post(body)
    expect(second.headers.get('x-gatehouse-cache')).toBe('hit')
    expect(second.json).toEqual(first.json)
    const tokens = tokensOf('fallback') + tokensOf('and cache')
    await expect
      .poll(() =>
        logLines.find(
          (line) =>
            line.msg === 'usage' && line.requestedModel === 'vectors' && line.cache === 'miss'
        )
      )
      .toMatchObject({
        operation: 'embeddings',
        provider: 'local',
        model: embeddingModelName,
        status: 200,
        usage: { inputTokens: tokens, outputTokens: 0 },
      })
  })

  it('is listed by GET /v1/models', async () => {
    const listed = (await openai.models.list()).data.map((entry) => entry.id)
    expect(listed).toContain(model)
  })

  it('measures embeddings per second through the gateway, one input and sixteen per request', async () => {
    // About 32 tokens each, different every request so nothing is cached anywhere.
    const sentence = (seed: number): string => `Request ${seed}: embed this short sentence here.`
    expect(tokensOf(sentence(100))).toBeGreaterThanOrEqual(28)
    expect(tokensOf(sentence(100))).toBeLessThanOrEqual(36)
    let seed = 0
    for (const size of [1, 16]) {
      const request = () =>
        openai.embeddings.create({
          model,
          input: Array.from({ length: size }, () => sentence((seed += 1))),
        })
      for (let warm = 0; warm < 20; warm += 1) await request()
      for (const concurrency of [1, 4]) {
        const started = performance.now()
        let inputs = 0
        const deadline = started + 1_500
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (performance.now() < deadline) {
              const response = await request()
              inputs += response.data.length
            }
          })
        )
        const seconds = (performance.now() - started) / 1000
        console.info(
          `local embeddings, ${size} input(s) per request, ${concurrency} client(s): ` +
            `${(inputs / seconds).toFixed(0)} embeddings/s, ${(inputs / size / seconds).toFixed(0)} requests/s`
        )
        expect(inputs).toBeGreaterThan(0)
      }
    }
  }, 30_000)
})
