//! Decisions shared by every path that judges a statement kind (sqlparser's tree, the narrow
//! fallback forms, PostgreSQL's tree alone): each names the guardrail that refuses.

use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::dml::ddl_denial;
use crate::types::{Access, StatementKind as K};

/// A statement only read-write roles may run.
pub fn read_write_only(kind: K, what: &str, ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(kind);
    if ctx.role.access == Access::ReadOnly {
        j.deny(deny(
            "read_only.write",
            format!("read-only role may not run {what}"),
            HINT_READ_WRITE,
        ));
    }
    j
}

/// DDL, TRUNCATE, maintenance and privileges: read-write roles with allow_ddl only.
pub fn ddl(kind: K, what: &str, ctx: &Ctx<'_>, writes: bool) -> Judged {
    let mut j = Judged::new(kind);
    j.info.writes = writes || matches!(kind, K::Truncate);
    match ctx.role.access {
        Access::ReadOnly => j.deny(deny(
            "read_only.write",
            format!("read-only role may not run {what}"),
            HINT_READ_WRITE,
        )),
        Access::ReadWrite if !ctx.role.allow_ddl => j.deny(ddl_denial(what)),
        Access::ReadWrite => {}
    }
    j
}

/// DO and CALL run code we cannot see: read-write roles with allow_ddl and without
/// require_where only (the code could write without a WHERE).
pub fn do_or_call(kind: K, what: &str, ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(kind).writes();
    match ctx.role.access {
        Access::ReadOnly => j.deny(deny(
            "read_only.write",
            format!("read-only role may not run {what}"),
            HINT_READ_WRITE,
        )),
        Access::ReadWrite if !ctx.role.allow_ddl || ctx.role.require_where => j.deny(deny(
            "opaque_code",
            format!("{what} runs code pgward cannot analyze"),
            "run the statements it contains directly",
        )),
        Access::ReadWrite => {}
    }
    j
}

/// Server administration outside SQL's data (server-side COPY to or from a file or program,
/// `session_replication_role`): the same class as `ALTER SYSTEM` and `ALTER TABLE ... DISABLE
/// TRIGGER`, so read-write roles with allow_ddl only. The refusal keeps the statement's own
/// rule name (`copy.server_side`, `session.replication_role`).
pub fn server_admin(
    rule: &'static str,
    what: &str,
    hint: &str,
    role: &crate::types::RoleRules,
) -> Option<crate::types::Denial> {
    if role.access == Access::ReadWrite && role.allow_ddl {
        return None;
    }
    let who = match role.access {
        Access::ReadOnly => "read-only role",
        Access::ReadWrite => "a role without allow_ddl",
    };
    Some(deny(rule, format!("{who} may not {what}"), hint))
}

/// `COPY ... FROM/TO 'file'` or `PROGRAM`: the server's filesystem and shell.
pub fn server_copy(role: &crate::types::RoleRules) -> Option<crate::types::Denial> {
    server_admin(
        "copy.server_side",
        "COPY to or from a server file or program",
        "use COPY ... TO STDOUT / FROM STDIN (psql's \\copy), or a role with allow_ddl",
        role,
    )
}
