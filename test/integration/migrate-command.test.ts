/**
 * `npx gatehouse migrate` as users run it: the bin over the real build (built into a private directory, as
 * `node-server.test.ts` explains), in a fresh working directory. With `DATABASE_URL` unset it creates the default
 * SQLite file under `./data/`; with a PostgreSQL URL it migrates that database; either way a second run applies
 * nothing, and a URL it does not speak is an error that names it.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import { sqlMigrations } from '../../src/stores/sql/sql-migrations.ts'
import { createThrowawayPostgresDatabase } from '../contract/create-throwaway-postgres-database.ts'
import { requireStoreService } from '../contract/define-store-contract.ts'

let bin = ''
const versions = Object.keys(sqlMigrations('sqlite'))

beforeAll(() => {
  bin = buildPrivateBin({
    name: 'gatehouse-migrate-command-test',
    needs: 'src/stores/sql/migrate-sql-database.js',
  })
}, 300_000)

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

const migrate = (env: Record<string, string> = {}) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-migrate-'))
  directories.push(cwd)
  const run = () =>
    spawnSync(process.execPath, [bin, 'migrate'], {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...env },
    })
  return { cwd, run }
}

const appliedOutput = (location: string): string =>
  [
    `Database: ${location}`,
    `Applied ${versions.length} migrations:`,
    ...versions.map((name) => `  ${name}`),
    '',
  ].join('\n')

describe('gatehouse migrate', () => {
  it('creates the default SQLite database under ./data/, then finds it up to date', () => {
    const { cwd, run } = migrate()
    const first = run()
    const file = join(cwd, 'data', 'gatehouse.db')
    expect([first.status, first.stderr]).toEqual([0, ''])
    expect(first.stdout).toBe(appliedOutput(file))
    expect(existsSync(file)).toBe(true)
    const second = run()
    expect(second.status).toBe(0)
    expect(second.stdout).toBe(
      `Database: ${file}\nUp to date (${versions.length} migrations applied before).\n`
    )
  })

  it('refuses a database URL it does not speak, naming it', () => {
    const result = migrate({ DATABASE_URL: 'mysql://db/gatehouse' }).run()
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^gatehouse: DATABASE_URL names a database .*\(mysql:\)/)
  })
})

describe('gatehouse migrate (postgres)', () => {
  requireStoreService('postgres')

  it('migrates the database DATABASE_URL names, without printing its password', async () => {
    const database = await createThrowawayPostgresDatabase()
    try {
      const url = new URL(database.url)
      url.password = 'not-needed-with-trust-auth'
      const { run } = migrate({ DATABASE_URL: url.href })
      const location = new URL(url.href)
      location.password = '***'
      const first = run()
      expect([first.status, first.stderr]).toEqual([0, ''])
      expect(first.stdout).toBe(appliedOutput(location.href))
      expect(run().stdout).toContain('Up to date')
    } finally {
      await database.drop()
    }
  })
})
