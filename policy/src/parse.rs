//! Parsing with two parsers that must agree.
//!
//! PostgreSQL's own grammar (libpg_query) splits and parses the text; sqlparser parses it
//! too. The statement count and each statement's family must match, or the text is refused
//! (`parser_disagreement`): a disagreement means one of them reads the bytes differently
//! (lexer differences are how guards like this one are usually bypassed).
//!
//! When sqlparser cannot parse the whole text, each statement (as PostgreSQL split it) is
//! parsed on its own; a statement sqlparser still cannot parse gets a narrow decision from
//! PostgreSQL's tree when it is one of the forms in [`crate::fallback`], and is refused as
//! `unanalyzable` otherwise.

use pg_query::NodeEnum;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::fallback::{self, PgStatement};
use crate::family::{pg_family, sql_family};
use crate::pg_facts::PgFacts;
use crate::syntax::sanitize_error;
use crate::types::Denial;

/// One statement ready to be judged.
pub enum Unit {
    Sql(Box<Statement>),
    Pg(PgStatement),
    /// Judged from PostgreSQL's facts alone ([`crate::pg_alone::judge_alone`]).
    PgOnly,
}

fn unanalyzable(parser: &str, msg: &str) -> Denial {
    crate::denial::deny_with_detail(
        "unanalyzable",
        "could not analyze statement",
        format!("{parser}: {}", sanitize_error(msg)),
        "check the statement's syntax; pgward refuses SQL it cannot analyze",
    )
}

fn disagreement(what: &str) -> Denial {
    crate::denial::deny_with_detail(
        "parser_disagreement",
        "could not analyze statement: the parsers disagree on what it means",
        what,
        "rewrite the statement more plainly (no exotic quoting or escapes)",
    )
}

/// More AND/OR terms than this and sqlparser's binary tree for the text grows too deep to
/// walk safely: the statement is judged from PostgreSQL's (flat) tree alone.
const MAX_SQLPARSER_BOOL_TERMS: usize = 256;

/// One statement as both parsers read it.
pub struct Parsed {
    pub unit: Unit,
    /// PostgreSQL's facts: the authority for what the statement runs.
    pub facts: PgFacts,
}

/// The text of statement `r` of `sql`, as PostgreSQL split it.
fn statement_text<'a>(sql: &'a str, r: &pg_query::protobuf::RawStmt) -> Option<&'a str> {
    let start = usize::try_from(r.stmt_location).ok()?;
    if r.stmt_len == 0 {
        sql.get(start..)
    } else {
        let len = usize::try_from(r.stmt_len).ok()?;
        sql.get(start..start.checked_add(len)?)
    }
}

/// Whether the two readings put a statement in the same family. A statement one parser calls
/// DDL and the other has no family for (DROP DATABASE, ALTER DATABASE, ...) is DDL-level on
/// both sides: judged under `allow_ddl` either way.
fn families_agree(a: crate::family::Family, b: crate::family::Family) -> bool {
    use crate::family::Family::{Ddl, Other};
    a == b || matches!((a, b), (Ddl, Other) | (Other, Ddl))
}

/// sqlparser read a `COPY ... FROM STDIN` (and took the text after it for its data).
fn has_copy_from_stdin(stmts: &[sqlparser::ast::Statement]) -> bool {
    stmts.iter().any(|s| {
        matches!(
            s,
            sqlparser::ast::Statement::Copy {
                target: sqlparser::ast::CopyTarget::Stdin,
                to: false,
                ..
            }
        )
    })
}

/// Parses `sql` into statements to judge, or the reason it cannot be analyzed.
pub fn parse(sql: &str) -> Result<Vec<Parsed>, Denial> {
    let pg = pg_query::parse(sql, 0).map_err(|e| crate::syntax::parse_failure(sql, &e))?;
    let raw = &pg.protobuf.stmts;
    let mut pg_nodes: Vec<&NodeEnum> = Vec::with_capacity(raw.len());
    let mut facts: Vec<PgFacts> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let Some(node) = r.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            return Err(disagreement(&format!("statement {}: empty", i + 1)));
        };
        pg_nodes.push(node);
        facts.push(PgFacts::of(node).map_err(|e| unanalyzable("postgres tree", &e))?);
    }
    let sqlparser_safe = facts
        .iter()
        .all(|f| f.bool_args <= MAX_SQLPARSER_BOOL_TERMS);
    let whole = if sqlparser_safe {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()
    } else {
        None
    };
    let mut units = Vec::with_capacity(raw.len());
    // sqlparser reads what follows `COPY ... FROM STDIN;` in the same string as the COPY's
    // data (psql's `\;` joins such statements): PostgreSQL's split decides, each statement
    // read on its own.
    let whole = whole.filter(|stmts| stmts.len() == pg_nodes.len() || !has_copy_from_stdin(stmts));
    match whole {
        Some(stmts) => {
            if stmts.len() != pg_nodes.len() {
                return Err(disagreement(&format!(
                    "statement count: {} vs {}",
                    stmts.len(),
                    pg_nodes.len()
                )));
            }
            for (i, (stmt, node)) in stmts.into_iter().zip(&pg_nodes).enumerate() {
                let (a, b) = (sql_family(&stmt), pg_family(node));
                if !families_agree(a, b) {
                    return Err(disagreement(&format!(
                        "statement {}: {a:?} vs {b:?}",
                        i + 1
                    )));
                }
                units.push(Unit::Sql(Box::new(stmt)));
            }
        }
        None => {
            for (i, r) in raw.iter().enumerate() {
                let node = pg_nodes[i];
                let Some(text) = statement_text(sql, r) else {
                    return Err(unanalyzable("split", "statement boundary"));
                };
                let one = if sqlparser_safe {
                    Parser::parse_sql(&PostgreSqlDialect {}, text).ok()
                } else {
                    None
                };
                match one {
                    Some(mut one) if one.len() == 1 => {
                        let stmt = one.remove(0);
                        let (a, b) = (sql_family(&stmt), pg_family(node));
                        if !families_agree(a, b) {
                            return Err(disagreement(&format!(
                                "statement {}: {a:?} vs {b:?}",
                                i + 1
                            )));
                        }
                        units.push(Unit::Sql(Box::new(stmt)));
                    }
                    Some(other) if !other.is_empty() => {
                        return Err(disagreement(&format!(
                            "statement {}: split into {} by sqlparser",
                            i + 1,
                            other.len()
                        )))
                    }
                    // sqlparser cannot read valid PostgreSQL: PostgreSQL's reading decides.
                    _ => units.push(match fallback::recognize(node) {
                        Some(pg_stmt) => Unit::Pg(pg_stmt),
                        None => Unit::PgOnly,
                    }),
                }
            }
        }
    }
    Ok(units
        .into_iter()
        .zip(facts)
        .map(|(unit, facts)| Parsed { unit, facts })
        .collect())
}
