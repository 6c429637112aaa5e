import { describe, expect, it } from 'vitest'
import type { ChatChunk, ChatResult } from '../../../providers/spec/chat-types.ts'
import { GatewayError } from '../errors.ts'
import { chunksOfAnswer } from './answer-chunks.ts'
import { Flight, Flights, followFlight } from './single-flight.ts'

const answer: ChatResult = {
  id: 'a1',
  model: 'gpt-4o-mini',
  created: 1,
  choices: [
    {
      index: 0,
      content: [{ type: 'text', text: 'hello' }],
      finishReason: { unified: 'stop', raw: 'stop' },
    },
  ],
  usage: {
    inputTokens: 1,
    outputTokens: 1,
    cachedInputTokens: null,
    cacheWriteInputTokens: null,
    reasoningTokens: null,
  },
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('Flight', () => {
  it('settles non-streamed followers with the answer, or with false when the leader failed', async () => {
    const done = new Flight()
    done.complete(answer)
    expect(await done.settled).toBe(true)
    expect(done.answer).toBe(answer)
    const failed = new Flight()
    failed.fail()
    failed.complete(answer)
    expect(await failed.settled).toBe(false)
    expect(failed.answer).toBeNull()
  })

  it('carries a whole body (embeddings) in place of a canonical answer', async () => {
    const flight = new Flight()
    const whole = { body: '{"object":"list","data":[]}', usage: null }
    flight.complete(whole)
    expect(await flight.settled).toBe(true)
    expect(flight.whole).toBe(whole)
    expect(flight.answer).toBeNull()
  })

  it('gives a streamed follower the leader’s chunks as they arrive, before the leader has finished', async () => {
    const flight = new Flight()
    flight.model = 'gpt-4o-mini'
    const reader = followFlight(flight)
    const [start, text, finish, usage] = chunksOfAnswer(answer)
    flight.push({ ...start, model: '' } as ChatChunk)
    const follower = (await reader)!
    expect(await follower.read()).toEqual({ done: false, value: start })
    const next = follower.read()
    await tick()
    flight.push(text)
    expect(await next).toEqual({ done: false, value: text })
    flight.push(finish)
    flight.push(usage)
    flight.complete(answer)
    expect((await follower.read()).value).toEqual(finish)
    expect((await follower.read()).value).toEqual(usage)
    expect((await follower.read()).done).toBe(true)
  })

  it('lets a follower joining late read from the first chunk', async () => {
    const flight = new Flight()
    const chunks = chunksOfAnswer(answer)
    for (const chunk of chunks) flight.push(chunk)
    flight.complete(answer)
    const follower = (await followFlight(flight))!
    const read: ChatChunk[] = []
    for (let result = await follower.read(); !result.done; result = await follower.read())
      read.push(result.value)
    expect(read).toEqual(chunks)
  })

  it('gives the chunks of a whole answer to streamed followers of a leader that was not streamed', async () => {
    const flight = new Flight()
    const reader = followFlight(flight)
    flight.complete(answer)
    const follower = (await reader)!
    const read: ChatChunk[] = []
    for (let result = await follower.read(); !result.done; result = await follower.read())
      read.push(result.value)
    expect(read).toEqual(chunksOfAnswer(answer))
  })

  it('sends no follower upstream’s error: none before the first chunk (the follower goes itself), a break-off after', async () => {
    const early = new Flight()
    const reader = followFlight(early)
    early.fail()
    expect(await reader).toBeNull()

    const late = new Flight()
    late.push(chunksOfAnswer(answer)[0])
    const follower = (await followFlight(late))!
    await follower.read()
    const pending = follower.read()
    late.fail()
    const error = await pending.then(
      () => null,
      (caught: unknown) => caught
    )
    expect(error).toBeInstanceOf(GatewayError)
    expect((error as GatewayError).status).toBe(502)
  })
})

describe('Flights', () => {
  it('lists a flight until it ends, and ends only the one it was given', () => {
    const flights = new Flights()
    const first = flights.start('k')
    expect(flights.get('k')).toBe(first)
    const second = flights.start('k')
    flights.end('k', first)
    expect(flights.get('k')).toBe(second)
    flights.end('k', second)
    expect(flights.get('k')).toBeUndefined()
    expect(flights.size).toBe(0)
  })
})
