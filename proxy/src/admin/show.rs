//! The SHOW tables, with PgBouncer's column names where it has them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Cell, Table};
use crate::clients::ClientState;
use crate::config::PoolMode;
use crate::shared::Shared;

fn time(t: SystemTime) -> Cell {
    Cell::Text(humantime::format_rfc3339_seconds(t).to_string())
}

/// A duration for people: "30s", "10m", "0" for none (no limit).
pub fn human(d: Option<Duration>) -> String {
    match d {
        None => "0".to_string(),
        Some(d) if d.is_zero() => "0".to_string(),
        Some(d) => {
            humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
        }
    }
}

fn mode_name(m: PoolMode) -> &'static str {
    match m {
        PoolMode::Transaction => "transaction",
        PoolMode::Session => "session",
    }
}

pub fn pools(shared: &Shared) -> Table {
    let clients = shared.clients.list();
    let rows = shared
        .pools
        .list()
        .iter()
        .map(|p| {
            let s = p.stats();
            let k = p.key();
            let cl_active = clients
                .iter()
                .filter(|c| {
                    c.pool.as_ref().is_some_and(|cp| Arc::ptr_eq(cp, p))
                        && c.state() != ClientState::Waiting
                })
                .count();
            vec![
                k.database.clone().into(),
                k.login.clone().into(),
                cl_active.into(),
                s.waiting.into(),
                s.active.into(),
                s.idle.into(),
                0u64.into(),
                0u64.into(),
                0u64.into(),
                s.max_wait.as_secs().into(),
                u64::from(s.max_wait.subsec_micros()).into(),
                mode_name(p.settings().mode).into(),
                if k.read_only {
                    "read-only"
                } else {
                    "read-write"
                }
                .into(),
                s.size.into(),
                s.paused.into(),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "database",
            "user",
            "cl_active",
            "cl_waiting",
            "sv_active",
            "sv_idle",
            "sv_used",
            "sv_tested",
            "sv_login",
            "maxwait",
            "maxwait_us",
            "pool_mode",
            "access",
            "pool_size",
            "paused",
        ],
        rows,
    }
}

pub fn clients(shared: &Shared) -> Table {
    let rows = shared
        .clients
        .list()
        .iter()
        .map(|c| {
            let b = c.bytes();
            vec![
                c.id.into(),
                "C".into(),
                c.user.clone().into(),
                c.role.clone().into(),
                c.database.clone().into(),
                c.state().name().into(),
                c.peer.ip().to_string().into(),
                u64::from(c.peer.port()).into(),
                time(c.connected_at),
                c.server().into(),
                c.tls.into(),
                c.application_name.clone().into(),
                c.statements.load(Ordering::Relaxed).into(),
                c.transactions.load(Ordering::Relaxed).into(),
                b.received.into(),
                b.sent.into(),
                c.pin_reason().into(),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "id",
            "type",
            "user",
            "role",
            "database",
            "state",
            "addr",
            "port",
            "connect_time",
            "link",
            "tls",
            "application_name",
            "statements",
            "transactions",
            "recv_bytes",
            "sent_bytes",
            "pinned",
        ],
        rows,
    }
}

pub fn servers(shared: &Shared) -> Table {
    let snap = shared.snapshot();
    let up = &snap.config.upstream;
    let mut rows = Vec::new();
    for p in shared.pools.list() {
        let k = p.key();
        for s in p.servers() {
            rows.push(vec![
                s.id.into(),
                "S".into(),
                k.login.clone().into(),
                k.database.clone().into(),
                if s.client.is_some() { "active" } else { "idle" }.into(),
                up.host.clone().into(),
                u64::from(up.port).into(),
                time(s.connected_at),
                s.client.into(),
                Cell::Int(i64::from(s.backend_pid)),
            ]);
        }
    }
    Table {
        columns: vec![
            "id",
            "type",
            "user",
            "database",
            "state",
            "addr",
            "port",
            "connect_time",
            "link",
            "remote_pid",
        ],
        rows,
    }
}

#[derive(Default)]
struct DbStats {
    xacts: u64,
    queries: u64,
    received: u64,
    sent: u64,
    xact_us: u64,
    wait_us: u64,
}

pub fn stats(shared: &Shared) -> Table {
    let mut by_db: BTreeMap<String, DbStats> = BTreeMap::new();
    for p in shared.pools.list() {
        let s = p.stats();
        let d = by_db.entry(p.key().database.clone()).or_default();
        d.xacts += s.xacts;
        d.queries += s.queries;
        d.received += s.received;
        d.sent += s.sent;
        d.xact_us += s.xact_us;
        d.wait_us += s.wait_us;
    }
    for c in shared.clients.list() {
        if let Some(d) = by_db.get_mut(&c.database) {
            let b = c.bytes();
            d.received += b.received;
            d.sent += b.sent;
        }
    }
    let rows = by_db
        .into_iter()
        .map(|(db, d)| {
            vec![
                db.into(),
                d.xacts.into(),
                d.queries.into(),
                d.received.into(),
                d.sent.into(),
                d.xact_us.into(),
                d.wait_us.into(),
                d.xact_us.checked_div(d.xacts).unwrap_or(0).into(),
                d.wait_us.checked_div(d.xacts).unwrap_or(0).into(),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "database",
            "total_xact_count",
            "total_query_count",
            "total_received",
            "total_sent",
            "total_xact_time",
            "total_wait_time",
            "avg_xact_time",
            "avg_wait_time",
        ],
        rows,
    }
}

pub fn config(shared: &Shared) -> Table {
    let snap = shared.snapshot();
    let c = &snap.config;
    let mut rows: Vec<(&str, String, &str)> = vec![
        ("listen.address", c.listen.address.to_string(), "no"),
        (
            "listen.max_client_connections",
            c.listen.max_client_connections.to_string(),
            "yes",
        ),
        (
            "listen.startup_timeout",
            human(Some(c.listen.startup_timeout)),
            "yes",
        ),
        (
            "listen.shutdown_grace",
            human(Some(c.listen.shutdown_grace)),
            "yes",
        ),
        ("upstream.host", c.upstream.host.clone(), "yes"),
        ("upstream.port", c.upstream.port.to_string(), "yes"),
        (
            "upstream.connect_timeout",
            human(c.upstream.connect_timeout),
            "yes",
        ),
        ("pool.mode", mode_name(c.pool.mode).to_string(), "no"),
        ("pool.size", c.pool.size.to_string(), "yes"),
        (
            "pool.checkout_timeout",
            human(c.pool.checkout_timeout),
            "yes",
        ),
        ("pool.idle_timeout", human(c.pool.idle_timeout), "yes"),
        ("pool.lifetime", human(c.pool.lifetime), "yes"),
        (
            "audit.file",
            c.audit
                .file
                .as_ref()
                .map_or("(off)".to_string(), |f| f.display().to_string()),
            "no",
        ),
        (
            "admin.metrics",
            c.admin
                .metrics
                .map_or("(off)".to_string(), |a| a.to_string()),
            "no",
        ),
        ("admin.users", c.admin.users.join(", "), "yes"),
    ];
    if let Some(p) = &c.peers {
        rows.push(("peers.self", p.self_id.to_string(), "no"));
        rows.push(("peers.reuse_port", p.reuse_port.to_string(), "no"));
        let members: Vec<String> = p.members.iter().map(|(i, a)| format!("{i}={a}")).collect();
        rows.push(("peers.members", members.join(", "), "yes"));
    }
    Table {
        columns: vec!["key", "value", "changeable"],
        rows: rows
            .into_iter()
            .map(|(k, v, ch)| vec![k.into(), v.into(), ch.into()])
            .collect(),
    }
}

pub fn version() -> Table {
    Table {
        columns: vec!["version"],
        rows: vec![vec![format!("pgward {}", env!("CARGO_PKG_VERSION")).into()]],
    }
}

pub fn users(shared: &Shared) -> Table {
    let snap = shared.snapshot();
    let c = &snap.config;
    let rows = c
        .users
        .iter()
        .map(|(name, u)| {
            let role = c.roles.get(&u.role);
            vec![
                name.clone().into(),
                u.role.clone().into(),
                role.map(|r| {
                    if r.rules.access == pgward_policy::Access::ReadOnly {
                        "read-only"
                    } else {
                        "read-write"
                    }
                })
                .into(),
                role.map(|r| r.login.clone()).into(),
                mode_name(c.pool.mode).into(),
                c.admin.users.contains(name).into(),
            ]
        })
        .collect();
    Table {
        columns: vec!["name", "role", "access", "login", "pool_mode", "admin"],
        rows,
    }
}

pub fn decisions(shared: &Shared) -> Table {
    let rows = shared
        .metrics
        .decisions()
        .into_iter()
        .map(|((decision, rule), n)| {
            vec![
                decision.into(),
                if rule.is_empty() {
                    Cell::Null
                } else {
                    rule.into()
                },
                n.into(),
            ]
        })
        .collect();
    Table {
        columns: vec!["decision", "rule", "count"],
        rows,
    }
}

pub fn pins(shared: &Shared) -> Table {
    let rows = shared
        .clients
        .list()
        .iter()
        .filter_map(|c| {
            let reason = c.pin_reason()?;
            Some(vec![
                c.id.into(),
                c.user.clone().into(),
                c.database.clone().into(),
                c.server().into(),
                reason.into(),
            ])
        })
        .collect();
    Table {
        columns: vec!["id", "user", "database", "link", "reason"],
        rows,
    }
}

pub fn databases(shared: &Shared) -> Table {
    let snap = shared.snapshot();
    let up = &snap.config.upstream;
    let clients = shared.clients.list();
    let rows = shared
        .pools
        .list()
        .iter()
        .map(|p| {
            let k = p.key();
            let s = p.stats();
            let current = clients
                .iter()
                .filter(|c| c.pool.as_ref().is_some_and(|cp| Arc::ptr_eq(cp, p)))
                .count();
            vec![
                k.database.clone().into(),
                up.host.clone().into(),
                u64::from(up.port).into(),
                k.database.clone().into(),
                k.login.clone().into(),
                s.size.into(),
                mode_name(p.settings().mode).into(),
                current.into(),
                (s.active + s.idle).into(),
                s.paused.into(),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "name",
            "host",
            "port",
            "database",
            "force_user",
            "pool_size",
            "pool_mode",
            "current_connections",
            "server_connections",
            "paused",
        ],
        rows,
    }
}

pub fn lists(shared: &Shared) -> Table {
    let snap = shared.snapshot();
    let clients = shared.clients.list();
    let pools = shared.pools.list();
    let (mut used_servers, mut free_servers) = (0usize, 0usize);
    let mut databases = std::collections::BTreeSet::new();
    for p in &pools {
        let s = p.stats();
        used_servers += s.active;
        free_servers += s.idle;
        databases.insert(p.key().database.clone());
    }
    let waiting = clients
        .iter()
        .filter(|c| c.state() == ClientState::Waiting)
        .count();
    let rows = [
        ("databases", databases.len()),
        ("users", snap.config.users.len()),
        ("pools", pools.len()),
        ("used_clients", clients.len()),
        ("waiting_clients", waiting),
        ("used_servers", used_servers),
        ("free_servers", free_servers),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.into(), v.into()])
    .collect();
    Table {
        columns: vec!["list", "items"],
        rows,
    }
}
