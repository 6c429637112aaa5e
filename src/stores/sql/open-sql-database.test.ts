import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DatabaseUrlError,
  defaultDatabaseUrl,
  openSqlDatabase,
  parseDatabaseUrl,
} from './open-sql-database.ts'

describe('parseDatabaseUrl', () => {
  const cwd = '/srv/gatehouse'

  it('reads SQLite files in every spelling, relative to cwd', () => {
    expect(parseDatabaseUrl(defaultDatabaseUrl, cwd)).toEqual({
      dialect: 'sqlite',
      file: '/srv/gatehouse/data/gatehouse.db',
    })
    expect(parseDatabaseUrl('sqlite:/var/lib/g.db', cwd)).toEqual({
      dialect: 'sqlite',
      file: '/var/lib/g.db',
    })
    expect(parseDatabaseUrl('sqlite:///var/lib/g.db', cwd)).toMatchObject({ file: '/var/lib/g.db' })
    expect(parseDatabaseUrl('sqlite://./g.db', cwd)).toMatchObject({ file: '/srv/gatehouse/g.db' })
    expect(parseDatabaseUrl('file:///var/lib/my%20g.db', cwd)).toMatchObject({
      file: '/var/lib/my g.db',
    })
    expect(parseDatabaseUrl('data/g.db', cwd)).toMatchObject({ file: '/srv/gatehouse/data/g.db' })
    expect(parseDatabaseUrl('/abs/g.db', cwd)).toMatchObject({ file: '/abs/g.db' })
    expect(parseDatabaseUrl('sqlite::memory:', cwd)).toEqual({
      dialect: 'sqlite',
      file: ':memory:',
    })
  })

  it('reads PostgreSQL URLs, keeping the password out of the location', () => {
    expect(parseDatabaseUrl('postgres://app:s3cret@db:5432/gatehouse', cwd)).toEqual({
      dialect: 'postgres',
      url: 'postgres://app:s3cret@db:5432/gatehouse',
      location: 'postgres://app:***@db:5432/gatehouse',
    })
    expect(parseDatabaseUrl('postgresql://db/gatehouse', cwd)).toMatchObject({
      dialect: 'postgres',
      location: 'postgresql://db/gatehouse',
    })
  })

  it('refuses what it does not speak, naming it', () => {
    expect(() => parseDatabaseUrl('mysql://db/gatehouse', cwd)).toThrow(DatabaseUrlError)
    expect(() => parseDatabaseUrl('mysql://db/gatehouse', cwd)).toThrow(/mysql:/)
    expect(() => parseDatabaseUrl('  ', cwd)).toThrow(/empty/)
    expect(() => parseDatabaseUrl('sqlite:', cwd)).toThrow(/no SQLite file/)
  })
})

describe('openSqlDatabase (SQLite)', () => {
  const directories: string[] = []
  afterEach(() => {
    for (const directory of directories.splice(0))
      rmSync(directory, { recursive: true, force: true })
  })

  it('creates the folder on first start and sets WAL, busy timeout and foreign keys', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'gatehouse-open-'))
    directories.push(directory)
    const database = openSqlDatabase({ url: 'sqlite:./data/nested/gatehouse.db', cwd: directory })
    try {
      expect(database.dialect).toBe('sqlite')
      expect(database.location).toBe(join(directory, 'data', 'nested', 'gatehouse.db'))
      const pragma = async (name: string): Promise<unknown> =>
        Object.values((await sql.raw(`pragma ${name}`).execute(database.db)).rows[0] as object)[0]
      expect(await pragma('journal_mode')).toBe('wal')
      expect(await pragma('foreign_keys')).toBe(1)
      expect(await pragma('busy_timeout')).toBe(5_000)
      expect(existsSync(database.location)).toBe(true)
    } finally {
      await database.close()
    }
  })

  it('answers right through its statement cache, past the cache size', async () => {
    const database = openSqlDatabase({ url: 'sqlite::memory:', cwd: '/' })
    try {
      for (let round = 0; round < 2; round += 1)
        for (let value = 0; value < 250; value += 1) {
          const { rows } = await sql<{
            n: number
          }>`select ${sql.lit(value)} + ${round} as n`.execute(database.db)
          expect(rows).toEqual([{ n: value + round }])
        }
    } finally {
      await database.close()
    }
  })

  it('begins transactions IMMEDIATE, holding the write lock from the start', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'gatehouse-open-'))
    directories.push(directory)
    const url = `sqlite:${join(directory, 'g.db')}`
    const [first, second] = [
      openSqlDatabase({ url, cwd: directory }),
      openSqlDatabase({ url, cwd: directory }),
    ]
    try {
      await sql`pragma busy_timeout = 0`.execute(second.db)
      await first.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx)
        // A deferred BEGIN would hold no lock yet after a read; IMMEDIATE holds the write lock already.
        await expect(sql`create table probe (id integer)`.execute(second.db)).rejects.toThrow(
          /locked/
        )
      })
    } finally {
      await first.close()
      await second.close()
    }
  })
})
