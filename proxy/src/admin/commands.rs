//! The console's commands: parsing (case-insensitive, PgBouncer's spelling) and running them.

use std::sync::Arc;
use std::time::Duration;

use super::{info, show, Reply};
use crate::clients::EndReason;
use crate::protocol::backend::PgError;
use crate::shared::Shared;
use crate::sqlstate;

/// How long PAUSE waits for active servers to come back.
const PAUSE_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    ShowPools,
    ShowClients,
    ShowServers,
    ShowStats,
    ShowConfig,
    ShowVersion,
    ShowUsers,
    ShowDecisions,
    ShowPins,
    ShowHelp,
    ShowDatabases,
    ShowLists,
    Reload,
    /// End every client of a database (PgBouncer's KILL db).
    Kill(String),
    /// Stop pgward as SIGTERM does.
    Shutdown,
    Pause(Option<String>),
    Resume(Option<String>),
    KillClient(u64),
}

const HELP: &str = "SHOW POOLS|CLIENTS|SERVERS|STATS|DATABASES|LISTS|CONFIG|VERSION|USERS|\
                    DECISIONS|PINS|HELP; RELOAD; PAUSE [db]; RESUME [db]; KILL <db>; \
                    KILL_CLIENT <id>; SHUTDOWN";

fn unknown(text: &str) -> PgError {
    PgError::error(
        sqlstate::SYNTAX_ERROR,
        format!("pgward: unknown admin command {:?}", text),
    )
    .with_hint(format!("commands: {HELP}"))
}

/// Parse one command (no trailing `;`).
pub fn parse(text: &str) -> Result<Command, PgError> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let db = |rest: &[&str]| -> Result<Option<String>, PgError> {
        match rest {
            [] => Ok(None),
            [name] => Ok(Some(name.trim_matches('"').to_string())),
            _ => Err(unknown(text)),
        }
    };
    Ok(match w.as_slice() {
        ["show", what] => match *what {
            "pools" => Command::ShowPools,
            "clients" => Command::ShowClients,
            "servers" => Command::ShowServers,
            // PgBouncer's SHOW STATS_TOTALS has the same totals.
            "stats" | "stats_totals" => Command::ShowStats,
            "config" => Command::ShowConfig,
            "version" => Command::ShowVersion,
            "users" => Command::ShowUsers,
            "decisions" => Command::ShowDecisions,
            "pins" => Command::ShowPins,
            "help" => Command::ShowHelp,
            "databases" => Command::ShowDatabases,
            "lists" => Command::ShowLists,
            _ => return Err(unknown(text)),
        },
        ["reload"] => Command::Reload,
        ["shutdown"] => Command::Shutdown,
        ["kill", name] => Command::Kill(name.trim_matches('"').to_string()),
        ["pause", rest @ ..] => Command::Pause(db(rest)?),
        ["resume", rest @ ..] => Command::Resume(db(rest)?),
        ["kill_client", id] => Command::KillClient(id.parse().map_err(|_| {
            PgError::error(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!("pgward: invalid client id {id:?}"),
            )
            .with_hint("the id column of SHOW CLIENTS")
        })?),
        _ => return Err(unknown(text)),
    })
}

pub async fn execute(cmd: Command, shared: &Arc<Shared>) -> Result<Reply, PgError> {
    Ok(match cmd {
        Command::ShowPools => Reply::Rows(show::pools(shared)),
        Command::ShowClients => Reply::Rows(show::clients(shared)),
        Command::ShowServers => Reply::Rows(show::servers(shared)),
        Command::ShowStats => Reply::Rows(info::stats(shared)),
        Command::ShowConfig => Reply::Rows(info::config(shared)),
        Command::ShowVersion => Reply::Rows(info::version()),
        Command::ShowUsers => Reply::Rows(info::users(shared)),
        Command::ShowDecisions => Reply::Rows(info::decisions(shared)),
        Command::ShowPins => Reply::Rows(show::pins(shared)),
        Command::ShowDatabases => Reply::Rows(show::databases(shared)),
        Command::ShowLists => Reply::Rows(show::lists(shared)),
        Command::Shutdown => {
            tracing::info!("SHUTDOWN from the admin console");
            shared.shutdown_requested.notify_one();
            Reply::Done("SHUTDOWN".into())
        }
        Command::Kill(db) => {
            matching_pools(shared, Some(&db))?;
            let victims: Vec<_> = shared
                .clients
                .list()
                .into_iter()
                .filter(|c| !c.admin && c.database == db)
                .collect();
            tracing::info!(database = %db, clients = victims.len(), "KILL");
            for c in victims {
                c.end(EndReason::Killed);
            }
            Reply::Done("KILL".into())
        }
        Command::ShowHelp => Reply::Rows(super::Table {
            columns: vec!["commands"],
            rows: vec![vec![HELP.into()]],
        }),
        Command::Reload => {
            crate::run::reload(shared).map_err(|e| {
                PgError::error(
                    sqlstate::CONFIG_FILE_ERROR,
                    "pgward: reload failed; the old configuration stays",
                )
                .with_detail(e)
            })?;
            Reply::Done("RELOAD".into())
        }
        Command::Pause(db) => {
            let pools = matching_pools(shared, db.as_deref())?;
            if db.is_none() {
                shared.pools.set_all_paused(true);
            }
            for p in &pools {
                p.pause();
            }
            // Like PgBouncer: PAUSE returns once the servers in use are back.
            let deadline = tokio::time::Instant::now() + PAUSE_WAIT;
            while pools.iter().any(|p| p.stats().active > 0) {
                if tokio::time::Instant::now() >= deadline {
                    return Err(PgError::error(
                        sqlstate::QUERY_CANCELED,
                        "pgward: servers still busy after 30s; the pools stay paused",
                    )
                    .with_hint("RESUME to undo, or wait and PAUSE again"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Reply::Done("PAUSE".into())
        }
        Command::Resume(db) => {
            if db.is_none() {
                shared.pools.set_all_paused(false);
            }
            for p in matching_pools(shared, db.as_deref())? {
                p.resume();
            }
            Reply::Done("RESUME".into())
        }
        Command::KillClient(id) => {
            let Some(c) = shared.clients.get(id) else {
                return Err(PgError::error(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("pgward: no client with id {id}"),
                ));
            };
            tracing::info!(client = id, "KILL_CLIENT");
            c.end(EndReason::Killed);
            Reply::Done("KILL_CLIENT".into())
        }
    })
}

fn matching_pools(
    shared: &Shared,
    db: Option<&str>,
) -> Result<Vec<Arc<crate::pool::Pool>>, PgError> {
    let pools: Vec<_> = shared
        .pools
        .list()
        .into_iter()
        .filter(|p| db.is_none_or(|d| p.key().database == d))
        .collect();
    match db {
        Some(d) if pools.is_empty() => Err(PgError::error(
            sqlstate::INVALID_CATALOG_NAME,
            format!("pgward: no pool for database \"{d}\""),
        )),
        _ => Ok(pools),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgbouncer_spellings() {
        assert_eq!(parse("show pools"), Ok(Command::ShowPools));
        assert_eq!(parse("SHOW   Clients"), Ok(Command::ShowClients));
        assert_eq!(parse("PAUSE"), Ok(Command::Pause(None)));
        assert_eq!(parse("pause app"), Ok(Command::Pause(Some("app".into()))));
        assert_eq!(
            parse("RESUME \"app\""),
            Ok(Command::Resume(Some("app".into())))
        );
        assert_eq!(parse("kill_client 42"), Ok(Command::KillClient(42)));
        assert_eq!(parse("reload"), Ok(Command::Reload));
        assert_eq!(parse("show databases"), Ok(Command::ShowDatabases));
        assert_eq!(parse("KILL app"), Ok(Command::Kill("app".into())));
        assert_eq!(parse("shutdown"), Ok(Command::Shutdown));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(parse("show tables").map_err(|e| e.code), Err("42601"));
        assert_eq!(parse("select 1").map_err(|e| e.code), Err("42601"));
        assert_eq!(parse("kill_client x").map_err(|e| e.code), Err("22P02"));
        assert_eq!(parse("pause a b").map_err(|e| e.code), Err("42601"));
    }
}
