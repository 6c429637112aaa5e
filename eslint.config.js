// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const nodeOnly = [
  {
    group: ['node:*'],
    message:
      'The core is Web-standard: Node-only code belongs in src/runtime/ (ARCHITECTURE.md house rule 2).',
  },
  {
    group: [
      'undici',
      'ioredis',
      'pg',
      'onnxruntime-node',
      'cloudflare:*',
      '@hono/node-server',
      '@hono/node-server/*',
    ],
    message: 'Runtime-specific modules belong in src/runtime/.',
  },
]

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.wrangler/', 'coverage/', 'bench/results/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' },
      ],
    },
  },
  {
    files: [
      'src/core/**',
      'src/api/**',
      'src/middleware/**',
      'src/app.ts',
      'src/deps.ts',
      'providers/spec/**',
      'providers/shared/**',
      'providers/openai/**',
      'providers/anthropic/**',
      'providers/openai-compatible/**',
      'config/**',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: nodeOnly }],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Only src/runtime/ reads the environment.' },
        { name: 'Buffer', message: 'Use Uint8Array / TextEncoder / atob in the core.' },
      ],
    },
  },
  {
    files: ['providers/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeOnly,
            { group: ['**/src/**'], message: 'providers/ never imports src/.' },
          ],
        },
      ],
    },
  },
  {
    // The local model runs onnxruntime-node in worker threads: Node-only by nature, and never imported by the core.
    files: ['providers/local/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/**'], message: 'providers/ never imports src/.' }] },
      ],
    },
  },
  {
    files: [
      'src/runtime/workers.ts',
      'wrangler-entry.ts',
      'bin/**',
      'bench/**',
      'scripts/**',
      'test/**',
      '**/*.test.ts',
      'eslint.config.js',
      'vitest.config.ts',
    ],
    rules: { 'no-restricted-syntax': 'off' },
  }
)
