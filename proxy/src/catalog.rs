//! Loads the upstream's catalog snapshot (schemas, relations and columns, types and domains
//! with the functions their CHECK constraints call, casts, operators, functions with
//! volatility, view definitions) for the policy engine, and keeps it fresh.
//!
//! The snapshot is per database. The engine is one per policy snapshot, so it judges with a
//! catalog while the proxy's clients use one database; with several databases in use it
//! judges without one (the policy crate's catalog-free rules, which fail closed on
//! schema-qualified user operators and types). Refreshed every [`REFRESH_EVERY`], when a new
//! database comes into use, and on SIGHUP.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pgward_policy::catalog::{
    Cast, CastContext, Catalog, CatalogParts, Column, Function, FunctionKind, Oid, Operator,
    Relation, RelationKind, Schema, Type, TypeKind, Volatility,
};
use tokio::sync::watch;

use crate::config::Config;
use crate::protocol::decode::{self, Cursor};
use crate::protocol::frontend;
use crate::server::{ServerConnection, ServerError};
use crate::shared::Shared;

/// How often a loaded catalog is reloaded.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How often the set of databases in use is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("catalog row: {0}")]
    Row(String),
    #[error("no login is configured to read the catalog with")]
    NoLogin,
}

type Row = Vec<Option<String>>;

/// Runs `sql` (simple protocol) and returns its rows as text.
async fn rows(server: &mut ServerConnection, sql: &str) -> Result<Vec<Row>, CatalogError> {
    let mut out = BytesMut::new();
    frontend::query(sql, &mut out);
    server.conn.send(&out).await.map_err(ServerError::from)?;
    let mut rows = Vec::new();
    let mut failure = None;
    loop {
        let frame = server
            .conn
            .read_frame()
            .await
            .map_err(ServerError::from)?
            .ok_or_else(|| ServerError::Lost("closed".into()))?;
        match frame.tag() {
            b'D' => rows.push(data_row(frame.body())?),
            b'E' => {
                failure = Some(ServerError::Query {
                    code: decode::error_field(frame.body(), b'C').unwrap_or_default(),
                    message: decode::error_field(frame.body(), b'M').unwrap_or_default(),
                })
            }
            b'Z' => {
                return match failure {
                    Some(e) => Err(e.into()),
                    None => Ok(rows),
                }
            }
            _ => {}
        }
    }
}

fn data_row(body: &[u8]) -> Result<Row, CatalogError> {
    let bad = |e: decode::DecodeError| CatalogError::Row(e.to_string());
    let mut c = Cursor::new(body);
    let n = c.i16().map_err(bad)?;
    let mut row = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let len = c.i32().map_err(bad)?;
        match usize::try_from(len) {
            Ok(len) => {
                let bytes = c.take(len).map_err(bad)?;
                row.push(Some(String::from_utf8_lossy(bytes).into_owned()));
            }
            Err(_) => row.push(None),
        }
    }
    Ok(row)
}

fn text(row: &Row, i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn oid(row: &Row, i: usize) -> Oid {
    text(row, i).parse().unwrap_or(0)
}

fn flag(row: &Row, i: usize) -> bool {
    text(row, i) == "t"
}

fn letter(row: &Row, i: usize) -> char {
    text(row, i).chars().next().unwrap_or('?')
}

const SYSTEM_SCHEMAS: &str = "('pg_catalog', 'information_schema', 'pg_toast')";

/// Reads the catalog through `server` (a connection pgward opened for this and closes after).
pub async fn load_from(server: &mut ServerConnection) -> Result<Catalog, CatalogError> {
    // View definitions rendered with only pg_catalog on the path: every other name in them
    // comes out schema-qualified, which is how the policy engine reads them.
    // One REPEATABLE READ transaction: every query below sees the same catalog. Separate
    // snapshots could pair a table with the triggers of an older or newer table of the same
    // name (dropped and recreated between two queries), and the guard would trust it.
    server
        .run_internal(
            "SET search_path = pg_catalog; SET default_transaction_read_only = on; \
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await?;
    let mut parts = CatalogParts::default();
    for r in rows(server, "SELECT oid, nspname FROM pg_namespace").await? {
        parts.schemas.push(Schema {
            oid: oid(&r, 0),
            name: text(&r, 1),
        });
    }
    let mut columns: BTreeMap<Oid, Vec<Column>> = BTreeMap::new();
    let column_sql = format!(
        "SELECT a.attrelid, a.attname, a.attnum, a.atttypid, a.attnotnull FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','v','m','f','p') \
         AND n.nspname NOT IN {SYSTEM_SCHEMAS} ORDER BY a.attrelid, a.attnum"
    );
    for r in rows(server, &column_sql).await? {
        columns.entry(oid(&r, 0)).or_default().push(Column {
            name: text(&r, 1),
            attnum: text(&r, 2).parse().unwrap_or(0),
            type_oid: oid(&r, 3),
            not_null: flag(&r, 4),
        });
    }
    let relation_sql = format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind, \
         CASE WHEN c.relkind IN ('v','m') AND n.nspname NOT IN {SYSTEM_SCHEMAS} \
         THEN pg_get_viewdef(c.oid) END, \
         EXISTS (SELECT 1 FROM pg_rewrite w WHERE w.ev_class = c.oid \
           AND w.rulename <> '_RETURN') \
         OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid \
           AND NOT t.tgisinternal) \
         OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_proc p ON p.oid = d.refobjid \
           WHERE d.refclassid = 'pg_proc'::regclass AND p.pronamespace <> 'pg_catalog'::regnamespace \
           AND ((d.classid = 'pg_attrdef'::regclass \
                 AND d.objid IN (SELECT ad.oid FROM pg_attrdef ad WHERE ad.adrelid = c.oid)) \
             OR (d.classid = 'pg_constraint'::regclass \
                 AND d.objid IN (SELECT k.oid FROM pg_constraint k WHERE k.conrelid = c.oid)))), \
         EXISTS (SELECT 1 FROM pg_constraint k WHERE k.confrelid = c.oid AND k.contype = 'f' \
           AND (k.confdeltype IN ('c','n','d') OR k.confupdtype IN ('c','n','d'))) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r','v','m','f','p','S','c') AND n.nspname <> 'pg_toast'"
    );
    for r in rows(server, &relation_sql).await? {
        let rel_oid = oid(&r, 0);
        parts.relations.push(Relation {
            oid: rel_oid,
            schema: text(&r, 1),
            name: text(&r, 2),
            kind: RelationKind::from_relkind(letter(&r, 3)),
            columns: columns.remove(&rel_oid).unwrap_or_default(),
            view_definition: r.get(4).cloned().flatten(),
            on_write: pgward_policy::catalog::OnWrite {
                user_code: flag(&r, 5),
                cascades: flag(&r, 6),
            },
        });
    }
    let edges: Vec<(Oid, Oid)> = (rows(server, crate::catalog_writes::EDGES_SQL).await?.iter())
        .map(|r| (oid(r, 0), oid(r, 1)))
        .collect();
    crate::catalog_writes::spread(&mut parts.relations, &edges);
    let mut checks: BTreeMap<Oid, Vec<Oid>> = BTreeMap::new();
    let check_sql = "SELECT c.contypid, d.refobjid FROM pg_constraint c JOIN pg_depend d \
         ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid \
         AND d.refclassid = 'pg_proc'::regclass WHERE c.contypid <> 0";
    for r in rows(server, check_sql).await? {
        checks.entry(oid(&r, 0)).or_default().push(oid(&r, 1));
    }
    let type_sql = "SELECT t.oid, n.nspname, t.typname, t.typtype, t.typbasetype, t.typelem, \
         t.typcategory, t.typinput::oid, t.typoutput::oid \
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace";
    for r in rows(server, type_sql).await? {
        let type_oid = oid(&r, 0);
        let base = oid(&r, 4);
        let elem = oid(&r, 5);
        parts.types.push(Type {
            oid: type_oid,
            schema: text(&r, 1),
            name: text(&r, 2),
            kind: TypeKind::from_typtype(letter(&r, 3)),
            base_type: (base != 0).then_some(base),
            element_type: (elem != 0 && letter(&r, 6) == 'A').then_some(elem),
            check_functions: checks.remove(&type_oid).unwrap_or_default(),
            io_functions: [oid(&r, 7), oid(&r, 8)]
                .into_iter()
                .filter(|f| *f != 0)
                .collect(),
        });
    }
    for r in rows(
        server,
        "SELECT oid, castsource, casttarget, castfunc, castcontext FROM pg_cast",
    )
    .await?
    {
        let func = oid(&r, 3);
        parts.casts.push(Cast {
            oid: oid(&r, 0),
            source: oid(&r, 1),
            target: oid(&r, 2),
            function: (func != 0).then_some(func),
            context: CastContext::from_castcontext(letter(&r, 4)),
        });
    }
    let operator_sql = "SELECT o.oid, n.nspname, o.oprname, o.oprleft, o.oprright, o.oprcode::oid \
         FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace";
    for r in rows(server, operator_sql).await? {
        let left = oid(&r, 3);
        parts.operators.push(Operator {
            oid: oid(&r, 0),
            schema: text(&r, 1),
            name: text(&r, 2),
            left: (left != 0).then_some(left),
            right: oid(&r, 4),
            function: oid(&r, 5),
        });
    }
    let function_sql = "SELECT p.oid, n.nspname, p.proname, p.proargtypes::text, p.provolatile, \
         l.lanname, p.prosecdef, p.proretset, p.prokind \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         JOIN pg_language l ON l.oid = p.prolang";
    for r in rows(server, function_sql).await? {
        parts.functions.push(Function {
            oid: oid(&r, 0),
            schema: text(&r, 1),
            name: text(&r, 2),
            arg_types: text(&r, 3)
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect(),
            volatility: Volatility::from_provolatile(letter(&r, 4)),
            language: text(&r, 5),
            security_definer: flag(&r, 6),
            returns_set: flag(&r, 7),
            kind: FunctionKind::from_prokind(letter(&r, 8)),
        });
    }
    server.run_internal("COMMIT").await?;
    Ok(Catalog::new(parts))
}

/// Loads `database`'s catalog over a connection of its own.
/// `in_use`: the logins of pools on that database, tried first (`catalog_connect.rs`).
pub async fn load(
    config: &Config,
    database: &str,
    in_use: &[String],
) -> Result<Catalog, CatalogError> {
    let mut server = crate::catalog_connect::connect(config, database, in_use).await?;
    let result = load_from(&mut server).await;
    server.terminate().await;
    result
}

/// PostgreSQL's own functions (OIDs below FirstNormalObjectId, 16384), read once from
/// `database`: the same in every database of the server.
pub async fn load_builtin_functions(
    config: &Config,
    database: &str,
    in_use: &[String],
) -> Result<crate::shared::BuiltinFunctions, CatalogError> {
    let mut server = crate::catalog_connect::connect(config, database, in_use).await?;
    let sql = "SELECT p.oid, n.nspname, p.proname FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid < 16384";
    let result = rows(&mut server, sql).await.map(|rows| {
        rows.iter()
            .map(|r| (oid(r, 0), (text(r, 1), text(r, 2))))
            .collect()
    });
    server.terminate().await;
    result
}

/// The logins of the pools on `database`.
fn logins_on(shared: &Shared, database: &str) -> Vec<String> {
    shared
        .pools
        .snapshot()
        .into_keys()
        .filter(|k| k.database == database)
        .map(|k| k.login)
        .collect()
}

/// The databases the proxy's pools serve.
fn databases_in_use(shared: &Shared) -> BTreeSet<String> {
    shared
        .pools
        .snapshot()
        .into_keys()
        .map(|k| k.database)
        .collect()
}

/// Loads the catalog of the one database in use and hands it to the engine; with none or
/// several in use, the engine runs without a catalog.
pub async fn refresh(shared: &Shared) {
    // Requests made from here on need a later load: this one may read before them.
    let covers = shared.catalog_requests();
    let databases = databases_in_use(shared);
    let config = shared.snapshot();
    if !shared.has_builtin_functions() {
        if let Some(database) = databases.iter().next() {
            let logins = logins_on(shared, database);
            match load_builtin_functions(&config.config, database, &logins).await {
                Ok(functions) => {
                    tracing::info!(functions = functions.len(), "built-in functions read");
                    shared.set_builtin_functions(functions)
                }
                Err(e) => {
                    tracing::warn!(database = %database, error = %e, "could not read the built-in functions")
                }
            }
        }
    }
    let [database] = databases.iter().collect::<Vec<_>>()[..] else {
        shared
            .catalog_failed
            .store(false, std::sync::atomic::Ordering::Release);
        shared.set_catalog(None, covers);
        return;
    };
    match load(&config.config, database, &logins_on(shared, database)).await {
        Ok(catalog) => {
            tracing::info!(
                database = %database,
                relations = catalog.parts().relations.len(),
                functions = catalog.parts().functions.len(),
                "catalog snapshot loaded"
            );
            shared
                .catalog_failed
                .store(false, std::sync::atomic::Ordering::Release);
            shared.set_catalog(Some((database.clone(), Arc::new(catalog))), covers);
        }
        Err(e) => {
            tracing::warn!(database = %database, error = %e, "could not load the catalog; judging without it");
            shared
                .catalog_failed
                .store(true, std::sync::atomic::Ordering::Release);
            shared.set_catalog(None, covers);
        }
    }
}

/// Keeps the catalog fresh until `stop`.
pub async fn refresher(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut loaded_for: BTreeSet<String> = BTreeSet::new();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = shared.catalog_wanted.notified() => {}
            _ = stop.changed() => return,
        }
        let in_use = databases_in_use(&shared);
        if in_use != loaded_for || since.elapsed() >= REFRESH_EVERY || shared.catalog_stale() {
            refresh(&shared).await;
            loaded_for = in_use;
            since = tokio::time::Instant::now();
        }
    }
}
