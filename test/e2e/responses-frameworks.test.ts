/**
 * The frameworks that call `POST /v1/responses` by default, unchanged, against the gateway: the Vercel AI SDK's
 * `openai(model)` (generateText, streamText, a tool loop) and the OpenAI Agents SDK's default model provider running
 * a tool. Each runs twice: to an OpenAI-shaped upstream (the request forwarded as it is) and to an Anthropic-shaped
 * one (converted both ways).
 */
import { createOpenAI } from '@ai-sdk/openai'
import {
  Agent,
  OpenAIProvider,
  Runner,
  setTracingDisabled,
  tool as agentTool,
} from '@openai/agents'
import { generateText, stepCountIs, streamText, tool } from 'ai'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { E2E_MASTER_KEY, startE2EGateway } from './start-e2e-gateway.ts'
import type { E2EGateway } from './start-e2e-gateway.ts'

const models = [
  ['an OpenAI upstream (forwarded)', 'openai/gpt-4o-mini', 'openai'],
  ['an Anthropic upstream (converted)', 'anthropic/claude-haiku-4-5-20251001', 'anthropic'],
] as const

describe.each(models)('Responses frameworks → gateway → %s', (_name, model, provider) => {
  let gateway: E2EGateway
  beforeAll(async () => {
    gateway = await startE2EGateway({ openai: { streamChunks: 3 }, anthropic: { streamChunks: 3 } })
    setTracingDisabled(true)
  })
  afterAll(() => gateway?.close())
  beforeEach(() => gateway.reset())

  const upstreamPaths = () =>
    gateway[provider].requests
      .map((request) => request.path)
      .filter((path) => path !== '/v1/models')

  const aiSdk = () => createOpenAI({ apiKey: E2E_MASTER_KEY, baseURL: `${gateway.url}/v1` })

  it('AI SDK generateText through openai(model), the Responses API', async () => {
    const result = await generateText({ model: aiSdk()(model), prompt: 'hello from the ai sdk' })
    expect(result.text).toBe('echo: hello from the ai sdk')
    expect(result.usage.inputTokens).toBeGreaterThan(0)
    expect(result.usage.outputTokens).toBeGreaterThan(0)
    expect(result.finishReason).toBe('stop')
    expect(upstreamPaths()).toEqual([provider === 'openai' ? '/v1/responses' : '/v1/messages'])
  })

  it('AI SDK streamText: deltas, then the whole text and usage', async () => {
    const result = streamText({ model: aiSdk()(model), prompt: 'stream please' })
    const deltas: string[] = []
    for await (const delta of result.textStream) deltas.push(delta)
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join('')).toBe('echo: stream please')
    expect((await result.usage).outputTokens).toBeGreaterThan(0)
  })

  it('AI SDK tool loop: the call runs, its result goes back, the answer uses it', async () => {
    const result = await generateText({
      model: aiSdk()(model),
      prompt: 'use the tool get_weather',
      // `store` is on (the AI SDK's default): the second step replays the first's output as `item_reference`s, which
      // OpenAI resolves itself and the gateway resolves from its own store for the converted route.
      tools: {
        get_weather: tool({
          description: 'Weather for a city',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => `sunny in ${city}`,
        }),
      },
      stopWhen: stepCountIs(3),
    })
    expect(result.steps[0].toolCalls.map((call) => call.toolName)).toEqual(['get_weather'])
    expect(result.text).toMatch(/^tool result received: "?sunny in /)
  })

  it('Agents SDK with its default (Responses) model provider runs a tool', async () => {
    const openAIClient = new OpenAI({ apiKey: E2E_MASTER_KEY, baseURL: `${gateway.url}/v1` })
    const runner = new Runner({ modelProvider: new OpenAIProvider({ openAIClient }) })
    const agent = new Agent({
      name: 'weather',
      instructions: 'Answer with the tool.',
      model,
      tools: [
        agentTool({
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: z.object({ city: z.string() }),
          execute: async ({ city }) => `sunny in ${city}`,
        }),
      ],
    })
    const result = await runner.run(agent, 'use the tool get_weather')
    expect(String(result.finalOutput)).toMatch(/^tool result received: "?sunny in /)
    expect(upstreamPaths().length).toBe(2)
  })
})
