import { describe, expect, it } from 'vitest'
import { fieldNestedTooDeep, maxJsonDepth } from './field-nested-too-deep.ts'

/** `levels` objects inside one another, parsed from text as the validator does (no recursion to build it). */
const nestedObjects = (levels: number): Record<string, unknown> =>
  JSON.parse(`${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`) as Record<string, unknown>

const nestedArrays = (levels: number): unknown[] =>
  JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`) as unknown[]

describe('fieldNestedTooDeep', () => {
  it('passes a realistic request: messages with content blocks and a nested tool schema', () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'function f() { return [[[{"a": 1}]]] }' }],
        },
        {
          role: 'assistant',
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":[1]}' } },
          ],
        },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'f',
            parameters: {
              type: 'object',
              properties: {
                x: {
                  type: 'array',
                  items: { type: 'object', properties: { y: { type: 'string' } } },
                },
              },
            },
          },
        },
      ],
    }
    expect(fieldNestedTooDeep(body, maxJsonDepth)).toBeNull()
  })

  it('counts the body as level 1: a field may hold the limit minus one levels, not one more', () => {
    expect(
      fieldNestedTooDeep({ model: 'm', metadata: nestedObjects(maxJsonDepth - 1) }, maxJsonDepth)
    ).toBeNull()
    expect(
      fieldNestedTooDeep({ model: 'm', metadata: nestedObjects(maxJsonDepth) }, maxJsonDepth)
    ).toBe('metadata')
  })

  it('counts arrays as levels like objects', () => {
    expect(fieldNestedTooDeep({ input: nestedArrays(maxJsonDepth - 1) }, maxJsonDepth)).toBeNull()
    expect(fieldNestedTooDeep({ input: nestedArrays(maxJsonDepth) }, maxJsonDepth)).toBe('input')
    // The body, the tools array, a tool, then the arrays: 5 levels with two of them, 6 with three.
    expect(fieldNestedTooDeep({ tools: [{ a: nestedArrays(2) }] }, 5)).toBeNull()
    expect(fieldNestedTooDeep({ tools: [{ a: nestedArrays(3) }] }, 5)).toBe('tools')
  })

  it('names the top-level field that is too deep, not its shallow neighbours', () => {
    const body = {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [nestedObjects(10)],
      metadata: {},
    }
    expect(fieldNestedTooDeep(body, 8)).toBe('tools')
  })

  it('handles 100,000 levels without overflowing the stack (the walk stops at the limit)', () => {
    expect(fieldNestedTooDeep({ metadata: nestedObjects(100_000) }, maxJsonDepth)).toBe('metadata')
    expect(fieldNestedTooDeep({ input: nestedArrays(100_000) }, maxJsonDepth)).toBe('input')
  })
})
