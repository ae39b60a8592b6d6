"""asyncpg at its default settings through pgward: a pool (create_pool) and explicit prepare().
asyncpg always names its statements. Usage: asyncpg_check.py HOST PORT USER PASSWORD DBNAME.
Prints one line per failed check and "OK" when every check passed."""

import asyncio
import sys

import asyncpg

HOST, PORT, USER, PASSWORD, DB = sys.argv[1:6]
QUERY = "SELECT id, status FROM documents WHERE id = $1"


async def pool_check():
    pool = await asyncpg.create_pool(host=HOST, port=int(PORT), user=USER, password=PASSWORD,
                                     database=DB, ssl=False, min_size=4, max_size=8)
    try:
        async def one(i):
            async with pool.acquire() as conn:
                await conn.fetch(QUERY, i % 7 + 1)
                await conn.fetchval("SELECT count(*) FROM documents")
        await asyncio.gather(*(one(i) for i in range(200)))
    finally:
        await pool.close()


async def prepare_check():
    conn = await asyncpg.connect(host=HOST, port=int(PORT), user=USER, password=PASSWORD,
                                 database=DB, ssl=False)
    try:
        stmt = await conn.prepare(QUERY)
        for i in range(20):
            await stmt.fetch(i % 5 + 1)
        async with conn.transaction():
            for i in range(5):
                await stmt.fetchrow(i + 1)
        assert await conn.fetchval("SELECT $1::int * 2", 21) == 42
    finally:
        await conn.close()


async def main():
    failures = []
    for name, check in (("pool", pool_check), ("prepare", prepare_check)):
        try:
            await check()
        except Exception as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
    for f in failures:
        print(f)
    print("OK" if not failures else f"{len(failures)} failed")
    return 1 if failures else 0


sys.exit(asyncio.run(main()))
