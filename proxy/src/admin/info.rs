//! The SHOW tables of totals and settings: STATS, CONFIG, VERSION, USERS, DECISIONS.

use std::collections::BTreeMap;

use super::show::{human, mode_name};
use super::{Cell, Table};
use crate::shared::Shared;

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
