// node-postgres through pgward: named queries over pg.Pool (the driver prepares a named
// statement once per connection and then only Binds it). Usage: node node_check.js HOST PORT
// USER PASSWORD DBNAME. Prints one line per failed check and "OK" when every check passed.
const { Pool } = require('pg');
const [host, port, user, password, database] = process.argv.slice(2);

async function main() {
  const pool = new Pool({ host, port: Number(port), user, password, database, max: 8, ssl: false });
  const failures = [];
  try {
    const runs = [];
    for (let i = 0; i < 200; i++) {
      runs.push(pool.query({ name: 'doc_by_id', text: 'SELECT id, status FROM documents WHERE id = $1', values: [i % 7 + 1] }));
      runs.push(pool.query({ name: 'doc_count', text: 'SELECT count(*) FROM documents' }));
    }
    await Promise.all(runs);
  } catch (e) {
    failures.push(`named_queries: ${e.code || ''} ${e.message}`);
  } finally {
    await pool.end();
  }
  for (const f of failures) console.log(f);
  console.log(failures.length ? `${failures.length} failed` : 'OK');
  process.exit(failures.length ? 1 : 0);
}
main();
