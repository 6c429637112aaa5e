import { describe, expect, it } from 'vitest'
import responsesTextSse from './__fixtures__/responses-text.sse?raw'
import responsesToolCallsSse from './__fixtures__/responses-tool-calls.sse?raw'
import { createOpenAIResponsesTap } from './create-openai-responses-tap.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

const usage = {
  input_tokens: 36,
  input_tokens_details: { cached_tokens: 4 },
  output_tokens: 87,
  output_tokens_details: { reasoning_tokens: 16 },
  total_tokens: 123,
}

const frame = (type: string, data: Record<string, unknown>): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

describe('createOpenAIResponsesTap', () => {
  it('reads the usage and model of a whole Response body, split anywhere', () => {
    const tap = createOpenAIResponsesTap({ stream: false })
    const body = JSON.stringify({
      id: 'resp_1',
      object: 'response',
      model: 'gpt-4o-mini-2024-07-18',
      error: null,
      usage,
    })
    tap.write(bytes(body.slice(0, 20)))
    tap.write(bytes(body.slice(20)))
    expect(tap.finish()).toEqual({
      usage: {
        inputTokens: 36,
        outputTokens: 87,
        cachedInputTokens: 4,
        cacheWriteInputTokens: null,
        reasoningTokens: 16,
      },
      model: 'gpt-4o-mini-2024-07-18',
    })
  })

  it("reads a GPT-5.6 or later model's cache writes, which OpenAI bills", () => {
    const tap = createOpenAIResponsesTap({ stream: false })
    tap.write(
      bytes(
        JSON.stringify({
          id: 'resp_2',
          object: 'response',
          model: 'gpt-6-sol',
          error: null,
          usage: { ...usage, input_tokens_details: { cached_tokens: 4, cache_write_tokens: 30 } },
        })
      )
    )
    expect(tap.finish().usage).toMatchObject({ cachedInputTokens: 4, cacheWriteInputTokens: 30 })
  })

  it('reads an error body', () => {
    const tap = createOpenAIResponsesTap({ stream: false })
    tap.write(
      bytes(
        '{"error":{"message":"Bad input","type":"invalid_request_error","param":null,"code":null}}'
      )
    )
    expect(tap.finish()).toEqual({
      usage: null,
      error: { message: 'Bad input', type: 'invalid_request_error' },
    })
  })

  it('reads a stream: the model from response.created, usage from response.completed, across chunk boundaries', () => {
    const tap = createOpenAIResponsesTap({ stream: true })
    const text = [
      frame('response.created', {
        sequence_number: 0,
        response: { object: 'response', model: 'gpt-4o-mini-2024-07-18', usage: null },
      }),
      frame('response.output_text.delta', {
        sequence_number: 1,
        delta: '"usage": {"input_tokens": 999}',
        item_id: 'msg_1',
      }),
      frame('response.completed', {
        sequence_number: 2,
        response: {
          id: 'resp_9',
          object: 'response',
          model: 'gpt-4o-mini-2024-07-18',
          output: [{ id: 'msg_9', type: 'message' }],
          usage,
        },
      }),
    ].join('')
    for (let at = 0; at < text.length; at += 7) tap.write(bytes(text.slice(at, at + 7)))
    expect(tap.finish()).toMatchObject({
      usage: { inputTokens: 36, outputTokens: 87 },
      model: 'gpt-4o-mini-2024-07-18',
      // What OpenAI stored: whose it is gets recorded, so only its tenant may name it.
      stored: { id: 'resp_9', itemIds: ['msg_9'] },
    })
  })

  it('tells what OpenAI stored once the terminal event is read, before the body ends; nothing with store: false', () => {
    const tap = createOpenAIResponsesTap({ stream: true })
    const created = { id: 'resp_7', object: 'response', model: 'gpt-4o', output: [] }
    tap.write(bytes(frame('response.created', { sequence_number: 0, response: created })))
    // Its output is not known yet: nothing to record.
    expect(tap.stored?.()).toBeNull()
    const completed = frame('response.completed', {
      sequence_number: 1,
      response: { ...created, output: [{ id: 'rs_7', type: 'reasoning' }, { id: 'msg_7' }] },
    })
    tap.write(bytes(completed.slice(0, 30)))
    expect(tap.stored?.()).toBeNull()
    tap.write(bytes(completed.slice(30)))
    expect(tap.stored?.()).toEqual({ id: 'resp_7', itemIds: ['rs_7', 'msg_7'] })

    const unstored = createOpenAIResponsesTap({ stream: true })
    unstored.write(
      bytes(
        frame('response.completed', {
          sequence_number: 1,
          response: { ...created, store: false, output: [{ id: 'msg_8' }] },
        })
      )
    )
    expect(unstored.stored?.()).toBeNull()
    expect(unstored.finish().stored).toBeUndefined()
  })

  it('tells a background response still running when the body ended, stored whatever `store` says', () => {
    const queued = {
      id: 'resp_bg',
      object: 'response',
      model: 'gpt-4o',
      background: true,
      status: 'queued',
      store: false,
      output: [],
      usage: null,
    }
    const body = createOpenAIResponsesTap({ stream: false })
    body.write(bytes(JSON.stringify(queued)))
    expect(body.finish()).toEqual({
      usage: null,
      model: 'gpt-4o',
      stored: { id: 'resp_bg', itemIds: [] },
      running: { id: 'resp_bg' },
    })
    // Finished, or not in background: nothing runs on.
    for (const response of [
      { ...queued, status: 'completed', usage },
      { ...queued, background: false, status: 'in_progress' },
    ]) {
      const tap = createOpenAIResponsesTap({ stream: false })
      tap.write(bytes(JSON.stringify(response)))
      expect(tap.finish().running).toBeUndefined()
    }

    // A background stream cut short runs on; one that reached its terminal event does not.
    const stream = () => {
      const tap = createOpenAIResponsesTap({ stream: true })
      tap.write(bytes(frame('response.created', { sequence_number: 0, response: queued })))
      return tap
    }
    expect(stream().finish()).toMatchObject({ running: { id: 'resp_bg' } })
    const finished = stream()
    finished.write(
      bytes(
        frame('response.completed', {
          sequence_number: 9,
          response: { ...queued, status: 'completed', output: [{ id: 'msg_1' }], usage },
        })
      )
    )
    expect(finished.finish()).toMatchObject({
      stored: { id: 'resp_bg', itemIds: ['msg_1'] },
      usage: { inputTokens: 36 },
    })
    expect(finished.finish().running).toBeUndefined()
  })

  it('learns a failure from an error event or response.failed', () => {
    const tap = createOpenAIResponsesTap({ stream: true })
    tap.write(
      bytes(
        frame('error', {
          sequence_number: 3,
          code: 'server_error',
          message: 'The model broke.',
          param: null,
        })
      )
    )
    expect(tap.finish().error).toEqual({ message: 'The model broke.', type: 'server_error' })

    const failed = createOpenAIResponsesTap({ stream: true })
    failed.write(
      bytes(
        frame('response.failed', {
          sequence_number: 4,
          response: {
            object: 'response',
            model: 'gpt-4o',
            error: { code: 'rate_limit_exceeded', message: 'Slow down.' },
            usage,
          },
        })
      )
    )
    expect(failed.finish()).toMatchObject({
      error: { message: 'Slow down.', type: 'rate_limit_exceeded' },
      usage: { outputTokens: 87 },
    })
  })

  describe('the output tokens a stream carried (`outputTokensSeen`): one a delta of generated text', () => {
    const feed = (text: string, size: number) => {
      const tap = createOpenAIResponsesTap({ stream: true })
      const encoded = bytes(text)
      for (let at = 0; at < encoded.length; at += size) tap.write(encoded.subarray(at, at + size))
      return tap.finish()
    }
    /** The oracle: the delta events of generated text whose `event:` line the text holds whole. */
    const generated =
      /^event: response\.(output_text|reasoning_summary_text|function_call_arguments)\.delta$/gm
    const deltasIn = (text: string) => text.match(generated)?.length ?? 0

    it('counts a complete stream, however it is split, and not a JSON body', () => {
      // responses-text.sse: 3 reasoning summary deltas and 3 text deltas; responses-tool-calls.sse: 6 argument deltas.
      for (const [text, deltas] of [
        [responsesTextSse, 6],
        [responsesToolCallsSse, 6],
      ] as const) {
        expect(deltasIn(text)).toBe(deltas)
        for (const size of [1, 7, 64, text.length]) {
          const summary = feed(text, size)
          expect(summary.usage).not.toBeNull()
          expect(summary.outputTokensSeen).toBe(deltas)
        }
      }
      const body = createOpenAIResponsesTap({ stream: false })
      body.write(bytes(JSON.stringify({ object: 'response', model: 'gpt-4o', usage })))
      expect(body.finish()).not.toHaveProperty('outputTokensSeen')
    })

    it('counts a stream cut anywhere as the deltas that passed', () => {
      for (let cut = 0; cut <= responsesTextSse.length; cut += 23) {
        const text = responsesTextSse.slice(0, cut)
        for (const size of [5, 4096]) expect(feed(text, size).outputTokensSeen).toBe(deltasIn(text))
      }
      const cutAt = responsesTextSse.indexOf('event: response.output_text.done')
      expect(feed(responsesTextSse.slice(0, cutAt), 9)).toMatchObject({
        usage: null,
        outputTokensSeen: 6,
      })
    })

    it('counts every delta of generated text, not the audio or the other events', () => {
      const text = [
        frame('response.output_text.delta', { delta: 'Hi' }),
        frame('response.refusal.delta', { delta: 'No' }),
        frame('response.reasoning_text.delta', { delta: 'Hmm' }),
        frame('response.custom_tool_call_input.delta', { delta: 'x' }),
        frame('response.mcp_call_arguments.delta', { delta: '{' }),
        frame('response.code_interpreter_call_code.delta', { delta: 'print' }),
        frame('response.audio.delta', { delta: 'AAAA' }),
        frame('response.audio.transcript.delta', { delta: 'Hi' }),
        frame('response.output_text.done', { text: 'Hi' }),
        frame('response.in_progress', {}),
      ].join('')
      expect(feed(text, 11).outputTokensSeen).toBe(6)
    })
  })

  it('tells of an in-band error from its `event:` line on, before its data is complete (`inError`)', () => {
    for (const type of ['error', 'response.failed']) {
      const tap = createOpenAIResponsesTap({ stream: true })
      tap.write(bytes(frame('response.created', { response: { id: 'resp_1', model: 'm' } })))
      tap.write(bytes(frame('response.output_text.delta', { delta: 'error' })))
      expect(tap.inError?.()).toBe(false)
      tap.write(bytes(`event: ${type}\ndata: {"type":"${type}",`))
      expect(tap.inError?.()).toBe(true)
    }
  })
})
