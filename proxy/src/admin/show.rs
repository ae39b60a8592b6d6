//! The SHOW tables of live state (pools, clients, servers, pins, databases, lists), with
//! PgBouncer's column names where it has them; `info.rs` has the totals and settings.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Cell, Table};
use crate::clients::{ClientEntry, ClientState};
use crate::config::PoolMode;
use crate::pool::Pool;
use crate::shared::Shared;

pub(super) fn time(t: SystemTime) -> Cell {
    Cell::Text(humantime::format_rfc3339_seconds(t).to_string())
}

/// A duration for people: "30s", "10m", "0 (no limit)".
pub fn human(d: Option<Duration>) -> String {
    match d {
        None => "0 (no limit)".to_string(),
        Some(d) if d.is_zero() => "0 (no limit)".to_string(),
        Some(d) => {
            humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
        }
    }
}

pub(super) fn mode_name(m: PoolMode) -> &'static str {
    match m {
        PoolMode::Transaction => "transaction",
        PoolMode::Session => "session",
    }
}

/// The client is (or waits to be) served by `pool`.
fn in_pool(client: &ClientEntry, pool: &Arc<Pool>) -> bool {
    client.pool.as_ref().is_some_and(|cp| Arc::ptr_eq(cp, pool))
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
                .filter(|c| in_pool(c, p) && c.state() != ClientState::Waiting)
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
            let current = clients.iter().filter(|c| in_pool(c, p)).count();
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
