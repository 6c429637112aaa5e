import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MOCK_REASONING_TOKENS } from './mock-responses-api.ts'
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from './mock-openai-upstream.ts'
import type { MockUpstream } from './mock-upstream-server.ts'
import { expectValidOpenAI, preloadOpenAIValidator } from './openapi-validator.ts'

type Json = Record<string, unknown>
type Frame = { event: string; data: Json }

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Get the weather',
  parameters: {
    type: 'object',
    properties: {
      city: { type: 'string' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strict: true,
}
const timeTool = {
  type: 'function' as const,
  name: 'get_time',
  parameters: { type: 'object', properties: {} },
  strict: null,
}

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
  )

describe('mock OpenAI upstream: the Responses API', () => {
  let mock: MockUpstream
  let client: OpenAI
  beforeAll(async () => {
    preloadOpenAIValidator()
    mock = await startMockOpenAIUpstream({ streamChunks: 5, cacheReadTokens: 4 })
    client = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: mock.baseUrl, maxRetries: 0 })
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  /** Posts to /v1/responses and splits an SSE answer into `event:` / `data:` frames, failing on anything else. */
  const post = async (body: Json) =>
    fetch(`${mock.baseUrl}/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${MOCK_OPENAI_API_KEY}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    })
  const frames = async (body: Json): Promise<{ text: string; frames: Frame[] }> => {
    const response = await post({ ...body, stream: true })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const text = await response.text()
    const blocks = text.split('\n\n')
    expect(blocks.pop()).toBe('')
    return {
      text,
      frames: blocks.map((block) => {
        const match = /^event: (\S+)\ndata: (.+)$/.exec(block)
        expect(match, block).not.toBeNull()
        return { event: match![1], data: JSON.parse(match![2]) as Json }
      }),
    }
  }
  /** The grammar every stream must follow: event line = type, sequence numbers 0..n-1, each event valid. */
  const expectWellFormed = (stream: Frame[]) => {
    stream.forEach(({ event, data }, index) => {
      expect(data.type).toBe(event)
      expect(data.sequence_number).toBe(index)
      expectValidOpenAI('ResponseStreamEvent', data)
    })
  }

  it('answers a string input with a full Response object that validates and that the SDK reads', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'hello there',
      instructions: 'be brief',
      metadata: { purpose: 'test' },
      temperature: 0.5,
      top_p: 0.9,
      prompt_cache_key: 'k1',
    })
    expectValidOpenAI('Response', response)
    expect(response.id).toMatch(/^resp_[0-9a-f]{50}$/)
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'gpt-4o-mini-2024-07-18',
      error: null,
      incomplete_details: null,
      instructions: 'be brief',
      metadata: { purpose: 'test' },
      temperature: 0.5,
      top_p: 0.9,
      prompt_cache_key: 'k1',
      parallel_tool_calls: true,
      previous_response_id: null,
      store: true,
      tool_choice: 'auto',
      tools: [],
      truncation: 'disabled',
      text: { format: { type: 'text' }, verbosity: 'medium' },
      reasoning: { effort: null, summary: null },
      max_output_tokens: null,
    })
    expect(response.completed_at).toBeGreaterThanOrEqual(response.created_at)
    expect(response.output).toEqual([
      {
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        status: 'completed',
        content: [
          { type: 'output_text', annotations: [], logprobs: [], text: 'echo: hello there' },
        ],
        role: 'assistant',
      },
    ])
    // The item ids share the response's prefix, as the live API's do.
    expect(response.output[0].id!.slice(4, 28)).toBe(response.id.slice(5, 29))
    expect(response.output_text).toBe('echo: hello there')
    const usage = response.usage!
    expect(usage.input_tokens_details).toEqual({ cache_write_tokens: 0, cached_tokens: 4 })
    expect(usage.output_tokens).toBe(Math.ceil('echo: hello there'.length / 4))
    expect(usage.output_tokens_details).toEqual({ reasoning_tokens: 0 })
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens)
    expect(response._request_id).toMatch(/^req_/)

    expect(mock.requests).toHaveLength(1)
    expect(mock.requests[0]).toMatchObject({ method: 'POST', path: '/v1/responses' })
    expect(mock.requests[0].headers.authorization).toBe(`Bearer ${MOCK_OPENAI_API_KEY}`)
    expect(mock.requests[0].body).toMatchObject({ model: 'gpt-4o-mini', input: 'hello there' })
    expect(await mock.requests[0].settled).toBe('completed')
  })

  it('sends no output_text on the wire (an SDK convenience) and echoes an unknown model name as sent', async () => {
    const response = await post({
      model: 'my-finetune',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'parts' }] }],
    })
    const body = (await response.json()) as Json
    expectValidOpenAI('Response', body)
    expect(body).not.toHaveProperty('output_text')
    expect(body.model).toBe('my-finetune')
    expect(response.headers.get('x-request-id')).toMatch(/^req_/)
    expect((body.output as Json[])[0]).toMatchObject({
      content: [{ text: 'echo: parts' }],
    })
  })

  it('streams the documented event sequence with event: lines, sequence numbers from 0 and no [DONE]', async () => {
    const { text, frames: stream } = await frames({ model: 'gpt-4o', input: 'stream this please' })
    expectWellFormed(stream)
    expect(text).not.toContain('[DONE]')
    expect(stream.map((frame) => frame.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(5).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    const started = stream[0].data.response as Json
    expect(started).toMatchObject({
      status: 'in_progress',
      output: [],
      completed_at: null,
      service_tier: 'auto',
    })
    expect(started).not.toHaveProperty('usage')
    expect(stream[1].data.response).toEqual(started)
    const deltas = stream.filter((frame) => frame.event === 'response.output_text.delta')
    expect(deltas.map((frame) => frame.data.delta).join('')).toBe('echo: stream this please')
    expect(deltas.every((frame) => typeof frame.data.obfuscation === 'string')).toBe(true)
    expect(stream[2].data.item).toMatchObject({
      type: 'message',
      status: 'in_progress',
      content: [],
    })
    const final = stream.at(-1)!.data.response as Json
    expectValidOpenAI('Response', final)
    expect(final).toMatchObject({
      id: started.id,
      status: 'completed',
      model: 'gpt-4o-2024-08-06',
      service_tier: 'default',
    })
    expect(final.output).toEqual([stream.at(-2)!.data.item])
    expect((final.usage as Json).total_tokens).toBeGreaterThan(0)

    const plain = await frames({
      model: 'gpt-4o',
      input: 'x',
      stream_options: { include_obfuscation: false },
    })
    expect(plain.text).not.toContain('obfuscation')
  })

  it('is read by the SDK streamed: responses.create with stream, and responses.stream with finalResponse()', async () => {
    const stream = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'hello stream',
      stream: true,
    })
    const types: string[] = []
    for await (const event of stream) types.push(event.type)
    expect(types[0]).toBe('response.created')
    expect(types.at(-1)).toBe('response.completed')

    const snapshots: string[] = []
    const helper = client.responses
      .stream({ model: 'gpt-4o-mini', input: 'hello helper' })
      .on('response.output_text.delta', (event) => snapshots.push(event.snapshot))
    const final = await helper.finalResponse()
    expect(final.output_text).toBe('echo: hello helper')
    expect(snapshots).toHaveLength(5)
    expect(snapshots.at(-1)).toBe('echo: hello helper')
    expect(final.usage?.total_tokens).toBeGreaterThan(0)
  })

  it('answers "use tool" with a function_call item and echoes the tools in the API shape', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Please use tool to get the weather',
      tools: [weatherTool, timeTool],
    })
    expectValidOpenAI('Response', response)
    expect(response.output).toEqual([
      {
        id: expect.stringMatching(/^fc_/),
        type: 'function_call',
        status: 'completed',
        arguments: JSON.stringify({ city: 'sample city', unit: 'celsius' }),
        call_id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/),
        name: 'get_weather',
      },
    ])
    expect(response.output_text).toBe('')
    expect(response.tools).toEqual([
      {
        type: 'function',
        description: 'Get the weather',
        name: 'get_weather',
        output_schema: null,
        parameters: weatherTool.parameters,
        strict: true,
      },
      {
        type: 'function',
        name: 'get_time',
        output_schema: null,
        parameters: timeTool.parameters,
        strict: true,
      },
    ])
  })

  it('completes a function-call roundtrip, by replaying the items and by previous_response_id', async () => {
    const input: OpenAI.Responses.ResponseInput = [
      { role: 'user', content: 'use tool get_time please' },
    ]
    const first = await client.responses.create({
      model: 'gpt-4o-mini',
      input,
      tools: [weatherTool, timeTool],
    })
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall
    expect(call).toMatchObject({ type: 'function_call', name: 'get_time', arguments: '{}' })

    const replayed = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        ...input,
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: call.call_id, output: '12:00' },
      ],
      tools: [weatherTool, timeTool],
      store: false,
    })
    expectValidOpenAI('Response', replayed)
    expect(replayed.output_text).toBe('tool result received: 12:00')
    expect(replayed).toMatchObject({ store: false })

    const chained = await client.responses.create({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '12:30' }],
      tools: [weatherTool, timeTool],
    })
    expect(chained.previous_response_id).toBe(first.id)
    expect(chained.output_text).toBe('tool result received: 12:30')
    // The chained call's input counts the stored conversation too.
    expect(chained.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens)
  })

  it('streams two parallel calls with argument deltas that the SDK helper assembles, and one when parallel calls are off', async () => {
    const request = {
      model: 'gpt-4o-mini',
      input: 'use tools in parallel: weather and get_time',
      tools: [weatherTool, timeTool],
    }
    const { frames: stream } = await frames(request)
    expectWellFormed(stream)
    const added = stream.filter((frame) => frame.event === 'response.output_item.added')
    expect(added.map((frame) => [frame.data.output_index, (frame.data.item as Json).name])).toEqual(
      [
        [0, 'get_time'],
        [1, 'get_weather'],
      ]
    )
    expect(added[0].data.item).toMatchObject({ status: 'in_progress', arguments: '' })
    const weather = stream.filter(
      (frame) => frame.data.output_index === 1 && frame.data.item_id !== undefined
    )
    expect(weather.map((frame) => frame.event)).toEqual([
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
    ])
    expect(
      weather
        .slice(0, 3)
        .map((frame) => frame.data.delta)
        .join('')
    ).toBe(weather[3].data.arguments)
    expect(weather[3].data.name).toBe('get_weather')

    const final = await client.responses.stream(request).finalResponse()
    const calls = final.output as OpenAI.Responses.ResponseFunctionToolCall[]
    expect(calls.map((item) => [item.name, JSON.parse(item.arguments)])).toEqual([
      ['get_time', {}],
      ['get_weather', { city: 'sample city', unit: 'celsius' }],
    ])
    const single = await client.responses.create({ ...request, parallel_tool_calls: false })
    expect(single.output).toHaveLength(1)
    expect(single.parallel_tool_calls).toBe(false)
  })

  it('follows tool_choice: a named function is called unasked, none answers text', async () => {
    const forced = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'what time is it?',
      tools: [weatherTool, timeTool],
      tool_choice: { type: 'function', name: 'get_time' },
    })
    expectValidOpenAI('Response', forced)
    expect(forced.output[0]).toMatchObject({ type: 'function_call', name: 'get_time' })
    expect(forced.tool_choice).toEqual({ type: 'function', name: 'get_time' })
    const none = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'use tool anyway',
      tools: [weatherTool],
      tool_choice: 'none',
    })
    expect(none.output_text).toBe('echo: use tool anyway')
  })

  it('stops at max_output_tokens with status incomplete, non-streamed and streamed', async () => {
    const request = {
      model: 'gpt-4o-mini',
      input: 'a question long enough that its echo cannot fit in sixteen tokens of output at all',
      max_output_tokens: 16,
    }
    const cut = await client.responses.create(request)
    expectValidOpenAI('Response', cut)
    expect(cut).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      completed_at: null,
      max_output_tokens: 16,
    })
    expect(cut.output[0]).toMatchObject({ type: 'message', status: 'incomplete' })
    expect(cut.output_text).toBe(`echo: ${request.input}`.slice(0, 64))
    expect(cut.usage?.output_tokens).toBe(16)

    const { frames: stream } = await frames(request)
    expectWellFormed(stream)
    expect(stream.at(-1)!.event).toBe('response.incomplete')
    expect(stream.at(-2)!.data.item).toMatchObject({ status: 'incomplete' })
    const final = await client.responses.stream(request).finalResponse()
    expect(final.status).toBe('incomplete')
    expect(final.output_text).toBe(cut.output_text)
  })

  it('answers a reasoning model with a reasoning item first: summary when asked, encrypted_content when included', async () => {
    const plain = await client.responses.create({ model: 'o4-mini', input: 'think first' })
    expectValidOpenAI('Response', plain)
    expect(plain.model).toBe('o4-mini-2025-04-16')
    expect(plain.output.map((item) => item.type)).toEqual(['reasoning', 'message'])
    expect(plain.output[0]).toEqual({
      id: expect.stringMatching(/^rs_/),
      type: 'reasoning',
      summary: [],
    })
    expect(plain.reasoning).toMatchObject({ effort: 'medium', summary: null })
    expect(plain.usage?.output_tokens_details.reasoning_tokens).toBe(MOCK_REASONING_TOKENS)
    expect(plain.usage?.output_tokens).toBe(
      MOCK_REASONING_TOKENS + Math.ceil('echo: think first'.length / 4)
    )

    const codexStyle = {
      model: 'gpt-5',
      input: [
        { role: 'developer' as const, content: [{ type: 'input_text' as const, text: 'rules' }] },
        { role: 'user' as const, content: [{ type: 'input_text' as const, text: 'use tool' }] },
      ],
      tools: [timeTool, { type: 'web_search' as const }],
      tool_choice: 'auto' as const,
      prompt_cache_key: 'session-1',
      reasoning: { summary: 'auto' as const },
      include: ['reasoning.encrypted_content' as const],
      store: false,
    }
    const { frames: stream } = await frames(codexStyle)
    expectWellFormed(stream)
    expect(stream.slice(2, 9).map((frame) => frame.event)).toEqual([
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      ...Array(5).fill('response.reasoning_summary_text.delta'),
    ])
    const final = stream.at(-1)!.data.response as OpenAI.Responses.Response
    expectValidOpenAI('Response', final)
    const reasoning = final.output[0] as OpenAI.Responses.ResponseReasoningItem
    expect(reasoning.encrypted_content).toMatch(/^gAAAAA/)
    expect(reasoning.summary).toEqual([
      { type: 'summary_text', text: "**Planning the answer**\n\nI'll call get_time." },
    ])
    expect(final.output[1]).toMatchObject({ type: 'function_call', name: 'get_time' })
    expect(final.tools[1]).toEqual({ type: 'web_search' })

    // The next turn replays everything, reasoning included: accepted with its encrypted content (store was false) ...
    const call = final.output[1] as OpenAI.Responses.ResponseFunctionToolCall
    const next = await client.responses.create({
      ...codexStyle,
      input: [
        ...codexStyle.input,
        ...(final.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: call.call_id, output: 'noon' },
      ],
    })
    expect(next.output_text).toBe('tool result received: noon')
    // ... and refused without it, as the API refuses an item it never stored.
    const { encrypted_content: _dropped, ...bare } = reasoning
    const error = await caught(
      client.responses.create({ ...codexStyle, input: [...codexStyle.input, bare] })
    )
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect(error?.message).toContain(`Item with id '${reasoning.id}' not found.`)
    expect(error?.param).toBe('input')

    const none = await client.responses.create({
      model: 'gpt-5.1',
      input: 'quick',
      reasoning: { effort: 'none' },
    })
    expect(none.output.map((item) => item.type)).toEqual(['message'])
    expect(none.usage?.output_tokens_details.reasoning_tokens).toBe(0)
  })

  it('answers text.format json_schema with JSON that follows the schema', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'give me a city',
      text: {
        format: {
          type: 'json_schema',
          name: 'city',
          strict: true,
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, size: { enum: ['big', 'small'] } },
            required: ['name', 'size'],
            additionalProperties: false,
          },
        },
      },
    })
    expectValidOpenAI('Response', response)
    expect(JSON.parse(response.output_text)).toEqual({ name: 'sample name', size: 'big' })
    expect(response.text?.format).toMatchObject({ type: 'json_schema', name: 'city' })
  })

  it('retrieves, lists the input items of, and deletes a stored response; keeps nothing with store: false', async () => {
    const created = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'echo: first' },
        { role: 'user', content: 'second' },
      ],
    })
    const retrieved = await client.responses.retrieve(created.id)
    expectValidOpenAI('Response', retrieved)
    expect(retrieved.output).toEqual(created.output)

    const page = await fetch(`${mock.baseUrl}/responses/${created.id}/input_items`, {
      headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
    })
    const list = (await page.json()) as Json
    expectValidOpenAI('ResponseItemList', list)
    const texts = (list.data as Json[]).map((item) => (item.content as Json[])[0].text)
    expect(texts).toEqual(['second', 'echo: first', 'first'])
    const ascending = []
    for await (const item of client.responses.inputItems.list(created.id, { order: 'asc' }))
      ascending.push(item)
    expect(ascending.map((item) => item.id)).toEqual(
      (list.data as Json[]).map((item) => item.id).reverse()
    )

    await client.responses.delete(created.id)
    expect(mock.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/v1/responses/${created.id}`,
    })
    const gone = await caught(client.responses.retrieve(created.id))
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError)
    expect(gone?.message).toContain(`Response with id '${created.id}' not found.`)

    const unstored = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'x',
      store: false,
    })
    expect(await caught(client.responses.retrieve(unstored.id))).toBeInstanceOf(
      OpenAI.NotFoundError
    )
    const chained = await caught(
      client.responses.create({
        model: 'gpt-4o-mini',
        previous_response_id: unstored.id,
        input: 'y',
      })
    )
    expect(chained).toBeInstanceOf(OpenAI.BadRequestError)
    expect(chained).toMatchObject({
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    })
    expectValidOpenAI('ErrorResponse', { error: chained?.error })
  })

  it('runs a background response as the API does: queued at once, in progress on the next retrieve, then completed', async () => {
    const queued = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'later please',
      background: true,
    })
    expect(queued).toMatchObject({
      object: 'response',
      status: 'queued',
      background: true,
      output: [],
      usage: null,
      completed_at: null,
    })
    // Its input is there at once; its output is not, so nothing of it can be referenced yet.
    const inputs = await client.responses.inputItems.list(queued.id)
    expect(inputs.data).toHaveLength(1)
    const early = await caught(
      client.responses.create({
        model: 'gpt-4o-mini',
        input: [{ type: 'item_reference', id: 'msg_unknown' }],
      })
    )
    expect(early?.status).toBe(404)

    const polled = await client.responses.retrieve(queued.id)
    expect(polled).toMatchObject({ status: 'in_progress', output: [], usage: null })
    const done = await client.responses.retrieve(queued.id)
    expectValidOpenAI('Response', done)
    expect(done).toMatchObject({ id: queued.id, status: 'completed', background: true })
    expect(done.output_text).toBe('echo: later please')
    expect(done.usage?.output_tokens).toBeGreaterThan(0)
    // Done stays done; its output item can now be named.
    expect((await client.responses.retrieve(queued.id)).status).toBe('completed')
    const chained = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { type: 'item_reference', id: done.output[0].id! },
        { role: 'user', content: 'and now?' },
      ],
    })
    expect(chained.status).toBe('completed')
    // Cancelling what finished answers it as it is.
    const { output_text: _text, ...wire } = done
    expect(await client.responses.cancel(queued.id)).toEqual(wire)
  })

  it('cancels a queued or in-progress background response; refuses to cancel one not made in background', async () => {
    const queued = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'never mind',
      background: true,
    })
    const cancelled = await client.responses.cancel(queued.id)
    expect(cancelled).toMatchObject({ id: queued.id, status: 'cancelled', output: [] })
    expect(mock.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: `/v1/responses/${queued.id}/cancel`,
    })
    // It never completes, and a second cancel answers the same.
    expect((await client.responses.retrieve(queued.id)).status).toBe('cancelled')
    expect((await client.responses.retrieve(queued.id)).status).toBe('cancelled')
    expect((await client.responses.cancel(queued.id)).status).toBe('cancelled')

    const polled = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'x',
      background: true,
    })
    expect((await client.responses.retrieve(polled.id)).status).toBe('in_progress')
    expect((await client.responses.cancel(polled.id)).status).toBe('cancelled')

    const foreground = await client.responses.create({ model: 'gpt-4o-mini', input: 'now' })
    const refused = await caught(client.responses.cancel(foreground.id))
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError)
    expect(refused?.error).toEqual({
      message: 'Cannot cancel a synchronous response.',
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
    expect((await client.responses.retrieve(foreground.id)).status).toBe('completed')
    expect(await caught(client.responses.cancel('resp_unknown'))).toBeInstanceOf(
      OpenAI.NotFoundError
    )
  })

  it('completes a background response on the first retrieve with backgroundPolls: 0', async () => {
    const quick = await startMockOpenAIUpstream({ backgroundPolls: 0 })
    try {
      const other = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: quick.baseUrl })
      const queued = await other.responses.create({
        model: 'gpt-4o-mini',
        input: 'hi',
        background: true,
      })
      expect(queued.status).toBe('queued')
      expect((await other.responses.retrieve(queued.id)).status).toBe('completed')
    } finally {
      await quick.close()
    }
  })

  it('reports the usage of a response cancelled in progress with cancelledUsage; none for one still queued', async () => {
    const partial = await startMockOpenAIUpstream({ cancelledUsage: true })
    try {
      const other = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: partial.baseUrl })
      const create = () =>
        other.responses.create({ model: 'gpt-4o-mini', input: 'stop soon', background: true })
      const queued = await create()
      expect((await other.responses.cancel(queued.id)).usage).toBeNull()
      const running = await create()
      expect((await other.responses.retrieve(running.id)).status).toBe('in_progress')
      const cancelled = await other.responses.cancel(running.id)
      expect(cancelled.status).toBe('cancelled')
      expect(cancelled.usage).toMatchObject({
        input_tokens: expect.any(Number),
        output_tokens: expect.any(Number),
      })
      expect(cancelled.usage!.total_tokens).toBe(
        cancelled.usage!.input_tokens + cancelled.usage!.output_tokens
      )
    } finally {
      await partial.close()
    }
  })

  it('replays a background response as its event stream, after starting_after; refuses others', async () => {
    const queued = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'tell me later',
      background: true,
    })
    const url = `${mock.baseUrl}/responses/${queued.id}?stream=true`
    const headers = { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` }
    const whole = await (await fetch(url, { headers })).text()
    const types = [...whole.matchAll(/^event: (\S+)$/gm)].map((match) => match[1])
    expect(types[0]).toBe('response.created')
    expect(types.at(-1)).toBe('response.completed')
    const last = JSON.parse(whole.trim().split('\n').at(-1)!.slice('data: '.length))
    expect(last.response).toMatchObject({ id: queued.id, status: 'completed', usage: {} })
    // It ran to its end: a retrieve now shows it completed.
    expect((await client.responses.retrieve(queued.id)).status).toBe('completed')
    const rest = await (await fetch(`${url}&starting_after=2`, { headers })).text()
    expect(rest.match(/^event: /gm)).toHaveLength(types.length - 3)
    expect(rest).toMatch(/"sequence_number":3[,}]/)
    expect(rest).not.toMatch(/"sequence_number":2[,}]/)

    const foreground = await client.responses.create({ model: 'gpt-4o-mini', input: 'now' })
    const refused = await fetch(`${mock.baseUrl}/responses/${foreground.id}?stream=true`, {
      headers,
    })
    expect(refused.status).toBe(400)
  })

  it('resolves item_reference against what it stored, and reset() forgets stored responses', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'remember me' })
    const next = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { type: 'item_reference', id: first.output[0].id! },
        { role: 'user', content: 'and now?' },
      ],
    })
    expect(next.output_text).toBe('echo: and now?')
    mock.reset()
    const error = await caught(client.responses.retrieve(first.id))
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    const reference = await caught(
      client.responses.create({
        model: 'gpt-4o-mini',
        input: [{ type: 'item_reference', id: first.output[0].id! }],
      })
    )
    expect(reference).toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('chains only on the mock that stored the response, as on OpenAI (one store per organization)', async () => {
    const other = await startMockOpenAIUpstream()
    try {
      const created = await client.responses.create({ model: 'gpt-4o-mini', input: 'here' })
      const elsewhere = new OpenAI({
        apiKey: MOCK_OPENAI_API_KEY,
        baseURL: other.baseUrl,
        maxRetries: 0,
      })
      const error = await caught(
        elsewhere.responses.create({
          model: 'gpt-4o-mini',
          previous_response_id: created.id,
          input: 'there',
        })
      )
      expect(error).toMatchObject({ status: 400, code: 'previous_response_not_found' })
    } finally {
      await other.close()
    }
  })

  it.each([
    [{ input: 'x' }, 'model', 'missing_required_parameter'],
    [{ model: 'gpt-4o-mini' }, 'input', 'missing_required_parameter'],
    [
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
      'messages',
      'unknown_parameter',
    ],
    [{ model: 'gpt-4o-mini', input: 'x', max_tokens: 10 }, 'max_tokens', 'unknown_parameter'],
    [
      { model: 'gpt-4o-mini', input: 'x', response_format: { type: 'json_object' } },
      'response_format',
      'unsupported_parameter',
    ],
    [
      {
        model: 'gpt-4o-mini',
        input: 'x',
        tools: [{ type: 'function', function: { name: 'get_time', parameters: {} } }],
      },
      'tools[0].name',
      'missing_required_parameter',
    ],
    [
      { model: 'gpt-4o-mini', input: 'x', max_output_tokens: 8 },
      'max_output_tokens',
      'integer_below_min_value',
    ],
    [
      {
        model: 'gpt-4o-mini',
        input: [{ type: 'function_call_output', call_id: 'call_1', output: 'x' }],
      },
      'input',
      null,
    ],
  ])('refuses %j with a 400 naming %s', async (body, param, code) => {
    const response = await post(body)
    expect(response.status).toBe(400)
    const error = (await response.json()) as Json
    expectValidOpenAI('ErrorResponse', error)
    expect(error.error).toMatchObject({ type: 'invalid_request_error', param, code })
    expect(mock.requests.at(-1)?.body).toEqual(body)
  })

  it('rejects a wrong key with a 401 in OpenAI shape', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: mock.baseUrl, maxRetries: 0 })
    const error = await caught(wrong.responses.create({ model: 'gpt-4o-mini', input: 'x' }))
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(error?.code).toBe('invalid_api_key')
  })
})

describe('fault injection on the mock Responses API', () => {
  let mock: MockUpstream
  let client: OpenAI
  const request = { model: 'gpt-4o-mini', input: 'tell me something long enough' }
  beforeAll(async () => {
    preloadOpenAIValidator()
    mock = await startMockOpenAIUpstream({ streamChunks: 4 })
    client = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: mock.baseUrl, maxRetries: 0 })
  })
  afterAll(() => mock.close())
  beforeEach(() => mock.reset())

  const rawStream = async (body: Json) => {
    const response = await fetch(`${mock.baseUrl}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
      body: JSON.stringify({ ...body, stream: true }),
    })
    return [...(await response.text()).matchAll(/^event: (\S+)\ndata: (.+)$/gm)].map((match) => ({
      event: match[1],
      data: JSON.parse(match[2]) as Json,
    }))
  }

  it('answers a status fault in OpenAI shape, which the SDK retries', async () => {
    mock.enqueue({ status: 500 })
    const error = await caught(client.responses.create(request))
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expectValidOpenAI('ErrorResponse', { error: error?.error })
    mock.enqueue({ status: 429, headers: { 'retry-after-ms': '10' } })
    const retried = new OpenAI({
      apiKey: MOCK_OPENAI_API_KEY,
      baseURL: mock.baseUrl,
      maxRetries: 1,
    })
    expect((await retried.responses.create(request)).status).toBe('completed')
  })

  it('fails mid-stream as the live API does: error, then response.failed with the items finished so far', async () => {
    mock.enqueue({ inBandError: true, afterChunks: 11, error: { message: 'upstream melted' } })
    const stream = await rawStream(request)
    stream.forEach(({ event, data }, index) => {
      expect(data.type).toBe(event)
      expect(data.sequence_number).toBe(index)
      expectValidOpenAI('ResponseStreamEvent', data)
    })
    expect(stream.map((frame) => frame.event).slice(-4)).toEqual([
      'response.content_part.done',
      'response.output_item.done',
      'error',
      'response.failed',
    ])
    expect(stream.at(-2)!.data).toMatchObject({
      code: 'server_error',
      message: 'upstream melted',
      param: null,
      error: {
        type: 'server_error',
        code: 'server_error',
        message: 'upstream melted',
        param: null,
      },
    })
    const failed = stream.at(-1)!.data.response as Json
    expectValidOpenAI('Response', failed)
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'server_error', message: 'upstream melted' },
      completed_at: null,
    })
    expect(failed).not.toHaveProperty('usage')
    expect(failed.output).toEqual([stream.at(-3)!.data.item])
  })

  it('by default fails right after response.in_progress, which the SDK raises as an APIError without status', async () => {
    mock.enqueue({
      inBandError: true,
      error: { code: 'rate_limit_exceeded', type: 'tokens', message: 'slow down' },
    })
    const events: string[] = []
    const error = await caught(
      (async () => {
        for await (const event of await client.responses.create({ ...request, stream: true }))
          events.push(event.type)
      })()
    )
    expect(events).toEqual(['response.created', 'response.in_progress'])
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error?.status).toBeUndefined()
    expect(error?.message).toContain('slow down')
  })

  it('can end with response.failed alone, which the SDK helper hands over as the final response', async () => {
    mock.enqueue({ inBandError: true, afterChunks: 2, failWith: 'response.failed' })
    const final = await client.responses.stream(request).finalResponse()
    expect(final.status).toBe('failed')
    expect(final.error?.code).toBe('server_error')
    mock.enqueue({ inBandError: true, afterChunks: 2, failWith: 'error' })
    const stream = await rawStream(request)
    expect(stream.map((frame) => frame.event)).toEqual([
      'response.created',
      'response.in_progress',
      'error',
    ])
  })

  it('drops the connection after n events, which the SDK sees as an error', async () => {
    mock.enqueue({ dropAfterChunks: 4 })
    const received: string[] = []
    const error = await caught(
      (async () => {
        for await (const event of await client.responses.create({ ...request, stream: true }))
          received.push(event.type)
      })()
    )
    expect(error).toBeInstanceOf(Error)
    expect(received).toHaveLength(4)
    expect(await mock.requests[0].settled).toBe('dropped')
  })

  it('keeps no responses when record is off (load tests), so memory stays flat', async () => {
    const lean = await startMockOpenAIUpstream({ record: false })
    try {
      const sdk = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: lean.baseUrl, maxRetries: 0 })
      const created = await sdk.responses.create(request)
      expect(await caught(sdk.responses.retrieve(created.id))).toBeInstanceOf(OpenAI.NotFoundError)
      expect(lean.requests).toEqual([])
    } finally {
      await lean.close()
    }
  })

  it('sends function arguments only in .done when functionArgumentDeltas is off, and the SDK still assembles them', async () => {
    const quiet = await startMockOpenAIUpstream({ functionArgumentDeltas: false })
    try {
      const body = {
        model: 'gpt-4o-mini',
        input: 'use tool',
        tools: [
          { ...timeTool, parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
        ],
      }
      const response = await fetch(`${quiet.baseUrl}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MOCK_OPENAI_API_KEY}` },
        body: JSON.stringify({ ...body, stream: true }),
      })
      const text = await response.text()
      expect(text).not.toContain('response.function_call_arguments.delta')
      expect(text).toContain('event: response.function_call_arguments.done')
      const sdk = new OpenAI({ apiKey: MOCK_OPENAI_API_KEY, baseURL: quiet.baseUrl, maxRetries: 0 })
      const final = await sdk.responses.stream(body).finalResponse()
      expect(
        JSON.parse((final.output[0] as OpenAI.Responses.ResponseFunctionToolCall).arguments)
      ).toEqual({
        zone: 'sample zone',
      })
    } finally {
      await quiet.close()
    }
  })
})
