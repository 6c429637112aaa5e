/**
 * The kinds of provider the config can name; each has an adapter factory per runtime (`local`, the in-process ONNX
 * model, on Node only).
 */
export const providerTypes = ['openai', 'anthropic', 'openai-compatible', 'local'] as const
export type ProviderType = (typeof providerTypes)[number]
