// N4 in RESULTS.md: two clients LISTEN on one channel, the first NOTIFYs; both must get it.
// Directly both always do; through pgward's transaction mode the second one sometimes never does.
//   node benches/peers/repro/notify-two-listeners.js PORT [ITERATIONS]
// Uses the node-postgres checkout node-postgres.sh built under $PEERS_DIR/src; lab credentials.
'use strict'
const pg = require(`${process.env.PEERS_DIR || '/tmp/pgward-peers'}/src/node-postgres/packages/pg`)
const cfg = {
  host: '127.0.0.1', port: +process.argv[2], user: 'postgres',
  password: process.env.LAB_PASSWORD || 'peers', database: 'pg_test',
}
const channel = `repro_n4_${process.pid}` // not the suites' channel names

async function once() {
  const a = new pg.Client(cfg)
  const b = new pg.Client(cfg)
  await a.connect()
  await b.connect()
  const got = { a: 0, b: 0 }
  a.on('notification', () => got.a++)
  b.on('notification', () => got.b++)
  await a.query(`LISTEN ${channel}`)
  await b.query(`LISTEN ${channel}`)
  const pids = [a, b].map((c) => c.query('SELECT pg_backend_pid() AS p'))
  const [pa, pb] = (await Promise.all(pids)).map((r) => r.rows[0].p)
  await a.query(`NOTIFY ${channel}, 'x'`)
  await new Promise((r) => setTimeout(r, 1000))
  await a.end()
  await b.end()
  return `a=${got.a} b=${got.b} servers ${pa}/${pb}`
}

;(async () => {
  let lost = 0
  const n = +(process.argv[3] || 8)
  for (let i = 0; i < n; i++) {
    const line = await once()
    if (!/a=1 b=1/.test(line)) lost++
    console.log(line)
  }
  console.log(`${lost} of ${n} iterations lost a notification`)
  process.exit(lost ? 1 : 0)
})().catch((e) => { console.log('error', e.message); process.exit(2) })
