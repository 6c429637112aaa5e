import { z } from '@hono/zod-openapi'
import { describe, expect, it } from 'vitest'
import { validatedSynchronously } from './validated-synchronously.ts'

describe('validatedSynchronously', () => {
  it('answers safeParseAsync with the synchronous parse: the same data, the same issues', async () => {
    const schema = validatedSynchronously(
      z.looseObject({ model: z.string().min(1), n: z.number().optional() })
    )
    const body = { model: 'm', extra: { kept: [1] } }
    expect(await schema.safeParseAsync(body)).toEqual(schema.safeParse(body))
    const wrong = await schema.safeParseAsync({ model: '', n: 'two' })
    expect(wrong.success).toBe(false)
    expect(wrong.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['model', 'n'])
  })

  it('is synchronous underneath: an asynchronous refinement is refused, not awaited', async () => {
    const schema = validatedSynchronously(z.string().refine(async () => true))
    await expect(schema.safeParseAsync('x')).rejects.toThrow(/async/i)
  })

  it('keeps the name the schema carries into the OpenAPI document', () => {
    const named = z.looseObject({ a: z.string() }).openapi('Named')
    expect(validatedSynchronously(named)).toBe(named)
  })
})
