import { describe, expect, it } from 'vitest'
import {
  closesAtEnd,
  isJsonKey,
  lastJsonMemberValue,
  jsonKey,
  readJsonNumber,
  readJsonString,
  scanJsonObject,
  skipJsonValue,
  type JsonMemberVisitor,
} from './scan-json.ts'

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/** Every member `scanJsonObject` visits, as [key, value text]. */
const collect: JsonMemberVisitor<Array<[string, string]>> = (
  bytes,
  key,
  keyEnd,
  start,
  end,
  out
) => {
  out.push([decode(bytes.subarray(key, keyEnd)), decode(bytes.subarray(start, end))])
}

const members = (text: string, at = 0): { end: number; members: Array<[string, string]> } => {
  const out: Array<[string, string]> = []
  return { end: scanJsonObject(encode(text), at, collect, out), members: out }
}

describe('scanJsonObject', () => {
  it('visits the members of the object itself, values whole, whitespace aside', () => {
    const text =
      ' { "a" : 1 ,\n"b":{"a":[1,{"c":"}"}]},"c" :"x\\"y" , "d":null,"e":true,"f":-1.5e3 } '
    expect(members(text, 1)).toEqual({
      end: text.length - 1,
      members: [
        ['a', '1'],
        ['b', '{"a":[1,{"c":"}"}]}'],
        ['c', '"x\\"y"'],
        ['d', 'null'],
        ['e', 'true'],
        ['f', '-1.5e3'],
      ],
    })
    expect(members('{}')).toEqual({ end: 2, members: [] })
    expect(members('{ }')).toEqual({ end: 3, members: [] })
  })

  it('walks multi-byte characters as the bytes they are', () => {
    const text = '{"é":"😀}","k":"ü"}'
    expect(members(text)).toEqual({
      end: encode(text).length,
      members: [
        ['é', '"😀}"'],
        ['k', '"ü"'],
      ],
    })
  })

  it('answers -1 for what is not an object it reads', () => {
    for (const text of [
      '[1]',
      '{"a":1',
      '{"a" 1}',
      '{"a":1 "b":2}',
      '{"a":}',
      '{"a":tru}',
      '{"a":01}',
      '{"a":0x10}',
      '{"a":"open}',
      '{"a":{"b":1}',
      '{a:1}',
      '{"a":1,}',
      '{"us\\u0061ge":1}',
      '{"a":"line\nbreak"}',
    ])
      expect(members(text).end, text).toBe(-1)
  })

  it('compares keys in place', () => {
    const bytes = encode('{"usage":1,"usages":2,"usag":3}')
    const usage = jsonKey('usage')
    const found: number[] = []
    scanJsonObject(
      bytes,
      0,
      (source, key, keyEnd, start, _end, out: number[]) => {
        if (isJsonKey(source, key, keyEnd, usage)) out.push(source[start] - 0x30)
      },
      found
    )
    expect(found).toEqual([1])
  })
})

describe('skipJsonValue', () => {
  it('steps over each kind of value', () => {
    const skip = (text: string) => skipJsonValue(encode(text), 0)
    expect(skip('"a\\\\"x')).toBe(5)
    expect(skip('[[],{"]":"["}]x')).toBe(14)
    expect(skip('false,')).toBe(5)
    expect(skip('null}')).toBe(4)
    expect(skip('nul}')).toBe(-1)
    expect(skip('12 ')).toBe(2)
    expect(skip(',')).toBe(-1)
  })
})

describe('readJsonNumber', () => {
  it('reads numbers by the JSON grammar, and nothing else', () => {
    const read = (text: string) => readJsonNumber(encode(text), 0, text.length)
    expect(read('0')).toBe(0)
    expect(read('31')).toBe(31)
    expect(read('123456789012345')).toBe(123456789012345)
    expect(read('12345678901234568')).toBe(Number('12345678901234568'))
    expect(read('-7')).toBe(-7)
    expect(read('1.25')).toBe(1.25)
    expect(read('2E+2')).toBe(200)
    expect(read('1e400')).toBe(Infinity)
    for (const text of ['', '01', '-', '+1', '1.', '.5', '0x10', 'Infinity', '1_000', 'NaN', '1e'])
      expect(read(text), text).toBeUndefined()
  })
})

describe('readJsonString', () => {
  it('decodes a plain string as it is and one with escapes as JSON does', () => {
    const bytes = encode('"gpt-4o" "a\\u00e9\\"b" 5 "é"')
    expect(readJsonString(bytes, 0, 8)).toBe('gpt-4o')
    expect(readJsonString(bytes, 9, 21)).toBe('aé"b')
    expect(readJsonString(bytes, 22, 23)).toBeUndefined()
    expect(readJsonString(bytes, 24, 28)).toBe('é')
  })
})

describe('lastJsonMemberValue and closesAtEnd', () => {
  const usage = jsonKey('usage')
  const find = (text: string) => {
    const bytes = encode(text)
    const at = lastJsonMemberValue(bytes, usage)
    if (at === -1) return null
    const end = skipJsonValue(bytes, at)
    return { value: decode(bytes.subarray(at, end)), outermost: closesAtEnd(bytes, end) }
  }

  it('finds the last member of that name from the end, and says whether the outermost object holds it', () => {
    expect(find('{"usage":{"a":1},"x":[1,"}"], "y" : null }\n')).toEqual({
      value: '{"a":1}',
      outermost: true,
    })
    expect(find('{"usage":1,"b":{"usage" :2}}')).toEqual({ value: '2', outermost: false })
    expect(find('{"a":{"usage":2},"usage":3}')).toEqual({ value: '3', outermost: true })
  })

  it('is not fooled by the name inside a string or as a value', () => {
    expect(find('{"a":"x, \\"usage\\": 5","usage":4}')).toEqual({ value: '4', outermost: true })
    expect(find('{"a":["usage", 1]}')).toBeNull()
    expect(find('{"a":"usage"}')).toBeNull()
  })

  it('does not vouch for what follows it when a key there has an escape or the text goes on', () => {
    expect(find('{"usage":1,"us\\u0061ge":2}')?.outermost).toBe(false)
    expect(find('{"usage":1} {}')?.outermost).toBe(false)
    expect(find('{"usage":1,}')?.outermost).toBe(false)
  })
})
