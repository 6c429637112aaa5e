import { describe, expect, it } from 'vitest'
import { convertResponsesTools } from './responses-tools.ts'

describe('convertResponsesTools', () => {
  it('keeps function tools, flattens namespaces and lists what it left out, each once', () => {
    const converted = convertResponsesTools([
      { type: 'web_search' },
      { type: 'function', name: 'read', description: 'Read a file', strict: true },
      {
        type: 'namespace',
        name: 'git',
        description: 'Git',
        tools: [
          { type: 'function', name: 'status', parameters: { type: 'object', properties: {} } },
          { type: 'custom', name: 'apply_patch' },
        ],
      },
      { type: 'web_search' },
      { type: 'code_interpreter', container: { type: 'auto' } },
    ])
    expect(converted.tools).toEqual([
      {
        name: 'read',
        description: 'Read a file',
        strict: true,
        parameters: { type: 'object', properties: {} },
      },
      { name: 'git__status', parameters: { type: 'object', properties: {} } },
    ])
    expect(converted.omitted).toEqual(['web_search', 'git.custom', 'code_interpreter'])
    expect([...converted.namespaced]).toEqual([
      ['git__status', { namespace: 'git', name: 'status' }],
    ])
  })

  it('reads one tools array once, however often it is asked (a request reads it three times)', () => {
    const tools = [{ type: 'function', name: 'f' }, { type: 'web_search' }]
    const first = convertResponsesTools(tools)
    expect(convertResponsesTools(tools)).toBe(first)
    // Another array with the same content is read anew.
    expect(convertResponsesTools([...tools])).not.toBe(first)
    expect(convertResponsesTools([...tools])).toEqual(first)
  })

  it('has nothing to say about a request without tools', () => {
    expect(convertResponsesTools(undefined)).toEqual({
      tools: [],
      omitted: [],
      namespaced: new Map(),
    })
  })
})
