//! `max_affected_rows` sees what a write sets off whichever name it writes through: an
//! updatable view writes its base table (with that table's triggers and cascading foreign
//! keys), a partitioned or inheritance parent writes its partitions or children (with
//! theirs). Red-team round two: each of these wrote 50-90 rows no CommandComplete counted.

use pgward_e2e::proxy::{ProxyBuilder, BOB};
use pgward_e2e::upstream::{self, OWNER_USER};
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_reached_through_a_view_or_a_parent_are_uncountable() {
    let up = upstream::shared();
    let db = up.fresh_db("viewwrites");
    up.sql(
        &db,
        &format!(
            "CREATE TABLE big (id int, x int); \
             INSERT INTO big SELECT g, 0 FROM generate_series(1, 50) g; \
             CREATE TABLE small (id int PRIMARY KEY, v text); \
             INSERT INTO small SELECT g, 'a' FROM generate_series(1, 5) g; \
             CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN UPDATE big SET x = x + 1; RETURN NULL; END $$; \
             CREATE TRIGGER bump AFTER UPDATE ON small FOR EACH STATEMENT EXECUTE FUNCTION bump(); \
             CREATE VIEW sv AS SELECT * FROM small; \
             CREATE VIEW svv AS SELECT * FROM sv; \
             CREATE TABLE pt (id int, v text) PARTITION BY RANGE (id); \
             CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (100); \
             INSERT INTO pt VALUES (1, 'a'); \
             CREATE TRIGGER bump AFTER UPDATE ON pt1 FOR EACH STATEMENT EXECUTE FUNCTION bump(); \
             CREATE TABLE plain (id int, v text); INSERT INTO plain VALUES (1, 'a'); \
             CREATE VIEW pv AS SELECT * FROM plain; \
             ALTER TABLE big OWNER TO {OWNER_USER}; ALTER TABLE small OWNER TO {OWNER_USER}; \
             ALTER VIEW sv OWNER TO {OWNER_USER}; ALTER VIEW svv OWNER TO {OWNER_USER}; \
             ALTER TABLE pt OWNER TO {OWNER_USER}; ALTER TABLE pt1 OWNER TO {OWNER_USER}; \
             ALTER TABLE plain OWNER TO {OWNER_USER}; ALTER VIEW pv OWNER TO {OWNER_USER}; \
             ALTER FUNCTION bump() OWNER TO {OWNER_USER}"
        ),
    );
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, BOB.0, &db).await;
    simple_rows(&c, "SELECT 1")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    for sql in [
        "UPDATE sv SET v = 'x' WHERE id = 1",
        "UPDATE svv SET v = 'x' WHERE id = 1",
        "UPDATE pt SET v = 'x' WHERE id = 1",
    ] {
        match simple_rows(&c, sql).await {
            Err(e) => assert_eq!(sqlstate(&e), "42501", "{sql}: {}", describe(&e)),
            Ok(rows) => panic!("{sql} ran: {rows:?}"),
        }
    }
    assert_eq!(up.sql(&db, "SELECT sum(x) FROM big").trim(), "0");
    // A view over a table without triggers is counted as the table is.
    simple_rows(&c, "UPDATE pv SET v = 'x' WHERE id = 1")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(up.sql(&db, "SELECT v FROM plain").trim(), "x");
}
