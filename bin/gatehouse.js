#!/usr/bin/env node
/**
 * The `gatehouse` command. Each subcommand is one entry in `commands`; `serve` is the default.
 * The server code is the compiled output of `npm run build` (dist/), which `npm ci` runs through `prepare`.
 */
import { readFileSync } from 'node:fs'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

/* global console, fetch */

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

const runtimeEntry = new URL('../dist/src/runtime/node.js', import.meta.url)
const clusterEntry = new URL('../dist/src/runtime/serve-cluster.js', import.meta.url)
const flagsEntry = new URL('../dist/src/runtime/serve-node-flags.js', import.meta.url)
const migrateEntry = new URL('../dist/src/stores/sql/migrate-sql-database.js', import.meta.url)
const cliEntry = new URL('../dist/src/cli/run-cli.js', import.meta.url)

/** Loads a compiled module (the runtime by default), or explains how to build it. */
const loadRuntime = async (entry = runtimeEntry) => {
  try {
    return await import(entry.href)
  } catch (error) {
    if (
      error?.code === 'ERR_MODULE_NOT_FOUND' &&
      String(error.message).includes(fileURLToPath(entry))
    ) {
      console.error(
        'gatehouse: the server is not built yet. Run `npm run build` (or `npm ci`) in the package folder.'
      )
      process.exit(1)
    }
    throw error
  }
}

/** Reads `--name value` / `--name=value` options; anything else is an error the user should see. */
const parseOptions = (args, known) => {
  const values = {}
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (!match || !known.includes(match[1])) throw new UsageError(`unknown option: ${arg}`)
    const value = match[2] ?? args[++index]
    if (value === undefined) throw new UsageError(`option --${match[1]} needs a value`)
    values[match[1]] = value
  }
  return values
}

class UsageError extends Error {}

const serve = {
  summary: 'Start the gateway (default command)',
  usage: 'gatehouse serve [--config <file>] [--workers N | auto]',
  details: [
    '  --config <file>   YAML config file (same as GATEHOUSE_CONFIG); see config/gatehouse.example.yaml',
    '  --workers N       N processes on one port (auto: one per core; default 1). More than one needs',
    '                    Redis (REDIS_URL): the workers share limits, budgets and revocations there',
    '',
    'Environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, GATEHOUSE_MASTER_KEY,',
    '             GATEHOUSE_CONFIG, HOST, PORT, LOG_LEVEL (debug | info | warn | error | silent),',
    '             DATABASE_URL, REDIS_URL',
  ],
  async run(args) {
    const options = parseOptions(args, ['config', 'workers'])
    // Before the server's code runs: V8 flags that take effect in a running process (serve-node-flags.ts).
    ;(await loadRuntime(flagsEntry)).applyServeV8Flags()
    const env = { ...process.env }
    if (options.config !== undefined) env.GATEHOUSE_CONFIG = options.config
    const { startNodeServer, StartupError } = await loadRuntime()
    const cluster = await loadRuntime(clusterEntry)
    let workers
    try {
      workers = cluster.parseWorkerCount(options.workers)
    } catch (error) {
      if (error instanceof cluster.WorkerCountError) throw new UsageError(error.message)
      throw error
    }
    // A worker forked by `serve --workers` runs this same command line: it serves, and the primary speaks.
    if (cluster.isClusterWorker()) return cluster.runClusterWorker({ env, cwd: process.cwd() })

    let server
    try {
      server =
        workers === 1
          ? await startNodeServer({ env, cwd: process.cwd() })
          : await cluster.startServeCluster({ env, cwd: process.cwd(), workers })
    } catch (error) {
      if (!(error instanceof StartupError)) throw error
      console.error(
        `gatehouse: cannot start, ${error.errors.length} problem${error.errors.length === 1 ? '' : 's'}:`
      )
      for (const line of error.errors) console.error(`  ${line}`)
      process.exit(1)
    }

    const { masterKey } = server
    if (masterKey.generated) {
      console.log(`Generated a master key, stored in ${masterKey.file} (shown only this once):`)
      console.log(`  ${masterKey.key}`)
      console.log('Clients send it as "Authorization: Bearer <key>" or "x-api-key: <key>".')
    } else if (masterKey.source === 'file') {
      console.log(`Master key: read from ${masterKey.file}`)
    }
    console.log(
      `Gatehouse listening on ${server.url}${workers === 1 ? '' : ` (${workers} workers)`}`
    )

    let signals = 0
    const stop = (signal) => {
      signals += 1
      if (signals > 1) {
        console.error(`gatehouse: ${signal} again, exiting without waiting`)
        process.exit(1)
      }
      server.close().then(
        () => process.exit(0),
        (error) => {
          console.error('gatehouse: shutdown failed:', error)
          process.exit(1)
        }
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  },
}

const migrate = {
  summary: 'Apply pending database migrations, then exit',
  usage: 'gatehouse migrate',
  details: [
    'Brings the schema of the tenants and usage database to the latest version; safe to run again.',
    '',
    'Environment: DATABASE_URL (default sqlite:./data/gatehouse.db; postgres://… for PostgreSQL)',
  ],
  async run(args) {
    parseOptions(args, [])
    const { migrateDatabaseUrl } = await loadRuntime(migrateEntry)
    let result
    try {
      result = await migrateDatabaseUrl({ url: process.env.DATABASE_URL, cwd: process.cwd() })
    } catch (error) {
      console.error(`gatehouse: ${error instanceof Error ? error.message : String(error)}`)
      process.exit(1)
    }
    console.log(`Database: ${result.location}`)
    if (result.applied.length === 0)
      console.log(`Up to date (${result.versions.length} migrations applied before).`)
    else {
      console.log(
        `Applied ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'}:`
      )
      for (const name of result.applied) console.log(`  ${name}`)
    }
  },
}

const gatewayEnvironment =
  'Environment: GATEHOUSE_URL (default http://127.0.0.1:8080), GATEHOUSE_MASTER_KEY (required)'

const accessOptions = [
  '  --rpm N | none            requests per minute',
  '  --tpm N | none            tokens per minute',
  '  --concurrency N | none    requests in flight',
  '  --budget-usd X | none     budget in USD, with --budget-period day | week | month | total',
  "  --models 'openai/*,...'   allowed model patterns (repeatable; all: every model)",
  '  --metadata key=value      a label (repeatable)',
]

/** A command that manages a running gateway through its admin API (src/cli/, compiled into dist/). */
const adminCommand = (name, summary, usage, details, environment = gatewayEnvironment) => ({
  summary,
  usage,
  details: [
    ...details,
    "  --json                    print the gateway's answer as JSON",
    '',
    environment,
  ],
  async run(args) {
    const { runCli } = await loadRuntime(cliEntry)
    process.exitCode = await runCli([name, ...args], {
      env: process.env,
      fetch,
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    })
  },
})

const tenants = adminCommand(
  'tenants',
  'Create, list, change, disable and enable tenants',
  'gatehouse tenants create <name> | list [--all] | show <tenant> | update <tenant> | disable <tenant> | enable <tenant>',
  [
    '  <tenant> is a tenant id or name; list --all shows disabled tenants too. create and update take:',
    ...accessOptions,
    '  --name <name>             (update) rename the tenant',
  ]
)

const keys = adminCommand(
  'keys',
  "Create, list, change, revoke and rotate tenants' API keys",
  'gatehouse keys create --tenant <tenant> | list [--tenant <tenant>] [--all] | show <id> | update <id> | revoke <id> | rotate <id> [--grace 1d]',
  [
    '  The key itself is printed once, by create and rotate. list --all shows revoked keys too. create and update take:',
    '  --name <name>             what the key is for',
    '  --expires 30d | <UTC date: 2027-01-01> | <ISO time> | never',
    ...accessOptions,
    '  --grace <duration>        (rotate) how long the previous secret keeps working (default 1d; 0s: not at all)',
  ]
)

const usage = adminCommand(
  'usage',
  'Show usage: requests, tokens and cost, grouped and filtered',
  'gatehouse usage [--since 7d] [--until <time>] [--by model,day] [--tenant <tenant>] [--csv]',
  [
    '  --since, --until          an ISO time, a UTC date (2026-03-01), now, or a duration back (7d, 12h); default 30d to now',
    '  --by                      tenant, key, model, provider, user, and day or hour (comma list)',
    '  --tenant, --key, --model, --provider, --user   only that one',
    "  --csv                     the gateway's CSV, header first",
  ]
)

const cache = adminCommand(
  'cache',
  'Purge the prompt cache, or warm it from a file of requests',
  'gatehouse cache purge --key <key> | --tenant <tenant> | --model <provider/model> | --all\n' +
    '       gatehouse cache warm <requests.jsonl> [--concurrency N] [--api-key <key>]',
  [
    '  purge (master key): --key takes x-gatehouse-cache-key; --model the provider/model that answered',
    '  warm: each line {"path": "/v1/chat/completions" | "/v1/messages" | "/v1/embeddings" | "/v1/responses",',
    '        "body": {...}, "headers"?: {...}} or a bare chat completions body, sent with streaming off',
    '  --api-key <key>           (warm) the key to send them with (default GATEHOUSE_API_KEY): entries are',
    '                            scoped per tenant, so use the key of the tenant they are for',
    '  --concurrency N           (warm) requests in flight (default 4, at most 64)',
  ],
  'Environment: GATEHOUSE_URL (default http://127.0.0.1:8080), GATEHOUSE_MASTER_KEY (purge),\n' +
    '             GATEHOUSE_API_KEY (warm; better than --api-key, which other users can see in ps)'
)

const models = adminCommand(
  'models',
  "List the local models' versions, activate one (or roll back), or go back to the default",
  'gatehouse models list | activate <model>@<version> | reset <model>',
  [
    '  <model> is provider/model (local/gatehouse-tiny) or the model name alone. activate loads the version, then',
    '  sends new requests to it; requests already running finish on the version they started on. Rolling back is',
    '  activate with the previous version. The choice is kept in the database (it outlives a restart, and every',
    "  gateway process on the database follows it); reset forgets it: the config's pinned version, else the",
    '  highest, serves again.',
  ]
)

const commands = { serve, migrate, tenants, keys, usage, cache, models }

const help = () =>
  [
    `Gatehouse ${packageJson.version}: ${packageJson.description}`,
    '',
    'Usage: gatehouse [command] [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, command]) => `  ${name.padEnd(16)}${command.summary}`),
    '',
    'Options:',
    "  -h, --help        Show this help (or a command's: gatehouse serve --help)",
    '  -v, --version     Show the version',
    '',
    ...Object.values(commands).flatMap((command) => [`${command.usage}`, ...command.details, '']),
  ].join('\n')

const main = async (argv) => {
  if (argv.includes('--version') || argv.includes('-v')) {
    console.log(packageJson.version)
    return
  }
  const [first, ...rest] = argv
  const named = first !== undefined && !first.startsWith('-')
  const name = named ? first : 'serve'
  const command = commands[name]
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(command && named ? [command.usage, ...command.details].join('\n') : help())
    return
  }
  if (!command) throw new UsageError(`unknown command: ${name}`)
  await command.run(named ? rest : argv)
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof UsageError) {
    console.error(`gatehouse: ${error.message}\n\n${help()}`)
    process.exit(2)
  }
  console.error(error)
  process.exit(1)
})
