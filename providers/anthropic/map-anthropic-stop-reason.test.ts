import { describe, expect, it } from 'vitest'
import { mapAnthropicStopReason } from './map-anthropic-stop-reason.ts'

describe('mapAnthropicStopReason', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool-calls'],
    ['refusal', 'content-filter'],
    ['some_future_reason', 'other'],
  ])('%s → %s, keeping the raw value', (raw, unified) => {
    expect(mapAnthropicStopReason(raw)).toEqual({ unified, raw })
  })

  it('maps a missing reason to other with raw null', () => {
    expect(mapAnthropicStopReason(null)).toEqual({ unified: 'other', raw: null })
  })
})
