//! Statement kinds: what each returns (SELECT, RETURNING, COPY TO, a cursor's or a prepared
//! statement's rows) and what each writes (copies out), turned into one [`MaskPlan`] per
//! statement.

use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, Check};
use super::nodes::unreadable;
use super::scope::{Columns, Scope};
use super::sources::Lineage;
use crate::denial::deny;
use crate::denial::Denial;
use crate::mask::config::{InferenceAllowances, Strategy};
use crate::mask::copy::CopyFormat;
use crate::mask::index::MaskIndex;
use crate::mask::plan::{MaskPlan, MaskedColumn, ResultSource, Scrub};

/// The columns a `COPY table (a, b, ...)` sends, in the order of its column list (PostgreSQL
/// sends them in that order, not the table's); a name pgward cannot place is refused.
fn copy_columns(table: Columns, attlist: &[Node]) -> Result<Columns, Denial> {
    if attlist.is_empty() {
        return Ok(table);
    }
    let mut cols = Vec::with_capacity(attlist.len());
    for item in attlist {
        let name = super::nodes::str_of(item).ok_or_else(unreadable)?;
        let lineage = match table.cols.iter().find(|c| c.name == name) {
            Some(col) => col.lineage.clone(),
            None => table.tail.clone().ok_or_else(unreadable)?,
        };
        cols.push(super::scope::Col {
            name: name.to_string(),
            lineage,
        });
    }
    Ok(Columns { cols, tail: None })
}

/// The mask plans of every statement of `sql`, in order; a refusal when one of them cannot be
/// masked safely.
pub fn analyze(
    sql: &str,
    index: &MaskIndex,
    search_path: &[String],
) -> Result<Vec<MaskPlan>, Denial> {
    let parsed = pg_query::parse(sql, 0).map_err(|_| unreadable())?;
    analyze_parsed(&parsed.protobuf, index, search_path, None)
}

/// Like [`analyze`] on a tree already parsed by libpg_query; `allow` overrides
/// `masking.allow` for a role that has its own.
pub fn analyze_parsed(
    parsed: &pg_query::protobuf::ParseResult,
    index: &MaskIndex,
    search_path: &[String],
    allow: Option<&InferenceAllowances>,
) -> Result<Vec<MaskPlan>, Denial> {
    parsed
        .stmts
        .iter()
        .map(|raw| match raw.stmt.as_deref() {
            Some(stmt) => plan_statement(stmt, index, search_path, allow),
            None => Ok(MaskPlan::clear(ResultSource::NoRows)),
        })
        .collect()
}

fn plan_statement(
    stmt: &Node,
    index: &MaskIndex,
    search_path: &[String],
    allow: Option<&InferenceAllowances>,
) -> Result<MaskPlan, Denial> {
    if !index.is_active() {
        return Ok(MaskPlan::clear(ResultSource::Rows));
    }
    let mut a = Analyzer::new(index, search_path);
    if let Some(allow) = allow {
        a.allow = allow;
    }
    let (source, columns) = a.statement(stmt)?;
    a.judge_checks()?;
    let columns = columns.unwrap_or_default();
    let masked = columns
        .cols
        .iter()
        .map(|c| MaskedColumn {
            name: c.name.clone(),
            strategy: a.strategy(&c.lineage),
            type_oid: a.copied_type(&c.lineage),
        })
        .collect();
    let mut rest = columns.tail.as_ref().and_then(|t| a.strategy(t));
    let mut scrub = if a.opaque_code {
        Scrub::All
    } else if a.reads_pii {
        Scrub::Values
    } else {
        Scrub::None
    };
    if matches!(source, ResultSource::Executes(_) | ResultSource::Fetches(_)) {
        // The rows are described by the plan made at PREPARE/DECLARE, which the relay
        // substitutes; should it not, everything is masked.
        rest = Some(Strategy::Redact);
        scrub = scrub.max(Scrub::Values);
    }
    Ok(MaskPlan {
        source,
        columns: masked,
        rest,
        scrub,
    })
}

/// The strategy of each column of a view's definition (in output order), and of any columns
/// past those.
pub fn view_column_strategies(
    definition: &str,
    index: &MaskIndex,
) -> Result<Vec<Option<Strategy>>, Denial> {
    let parsed = pg_query::parse(definition, 0).map_err(|_| unreadable())?;
    let stmt = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_deref())
        .ok_or_else(unreadable)?;
    let mut a = Analyzer::new(index, &[]);
    a.in_view = 1;
    let columns = a.query_node(stmt, &Scope::default())?;
    let mut out: Vec<Option<Strategy>> = columns
        .cols
        .iter()
        .map(|c| a.strategy(&c.lineage))
        .collect();
    if let Some(t) = &columns.tail {
        // Columns past the known ones (a view over a relation the snapshot lacks).
        out.extend(std::iter::repeat_n(a.strategy(t), 1600));
    }
    Ok(out)
}

impl Analyzer<'_> {
    /// The type of a value that is a plain copy of one known column.
    fn copied_type(&self, l: &Lineage) -> Option<u32> {
        match l.sources.as_slice() {
            [super::sources::Source::Column(rel, att)] if !l.transformed => self
                .index
                .relation_by_oid(*rel)
                .and_then(|r| r.columns.iter().find(|c| c.attnum == *att))
                .map(|c| c.type_oid),
            _ => None,
        }
    }

    /// What the statement returns, and the lineage of those rows.
    fn statement(&mut self, stmt: &Node) -> Result<(ResultSource, Option<Columns>), Denial> {
        let root = Scope::default();
        let Some(node) = stmt.node.as_ref() else {
            return Ok((ResultSource::NoRows, None));
        };
        Ok(match node {
            NodeEnum::SelectStmt(s) => (ResultSource::Rows, Some(self.select(s, &root)?)),
            NodeEnum::InsertStmt(_)
            | NodeEnum::UpdateStmt(_)
            | NodeEnum::DeleteStmt(_)
            | NodeEnum::MergeStmt(_) => (ResultSource::Rows, Some(self.dml(stmt, &root)?)),
            NodeEnum::CopyStmt(c) => {
                if c.is_from {
                    return Ok((ResultSource::NoRows, None));
                }
                let cols = if let Some(q) = c.query.as_deref() {
                    self.query_node(q, &root)?
                } else if let Some(rel) = c.relation.as_ref() {
                    let node = Node {
                        node: Some(NodeEnum::RangeVar(rel.clone())),
                    };
                    let out = self.range_item(&node, &root)?;
                    copy_columns(out.star, &c.attlist)?
                } else {
                    return Err(unreadable());
                };
                let to_client = c.filename.is_empty() && !c.is_program;
                let source = match CopyFormat::of(c) {
                    Some(format) => ResultSource::Copy(format),
                    None => ResultSource::NoRows,
                };
                let masks_rows =
                    to_client && matches!(source, ResultSource::Copy(_)) && self.allow.copy;
                if !masks_rows {
                    self.checks.push(Check::CopyOut {
                        lineage: cols.all(),
                        what: "COPY",
                    });
                }
                (source, Some(cols))
            }
            NodeEnum::DeclareCursorStmt(d) => {
                let cols = match d.query.as_deref() {
                    Some(q) => self.query_node(q, &root)?,
                    None => Columns::default(),
                };
                (
                    ResultSource::DeclaresCursor(d.portalname.clone()),
                    Some(cols),
                )
            }
            NodeEnum::PrepareStmt(p) => {
                let cols = match p.query.as_deref() {
                    Some(q) => self.statement(q)?.1.unwrap_or_default(),
                    None => Columns::default(),
                };
                (ResultSource::Prepares(p.name.clone()), Some(cols))
            }
            NodeEnum::ExecuteStmt(e) => (ResultSource::Executes(e.name.clone()), None),
            NodeEnum::FetchStmt(f) => (ResultSource::Fetches(f.portalname.clone()), None),
            NodeEnum::ExplainStmt(e) => {
                // EXPLAIN's own rows describe the plan; the query is judged all the same
                // (EXPLAIN ANALYZE runs it and counts its rows).
                if let Some(q) = e.query.as_deref() {
                    self.statement(q)?;
                }
                // ANALYZE runs it and reports how: rows each node saw, which subqueries ran,
                // memory a sort took. Of a statement reading masked columns, that tells them.
                if explain_analyze(&e.options) && self.reads_pii {
                    return Err(crate::denial::deny_with_detail(
                        "masking.inference",
                        "EXPLAIN ANALYZE of a statement that reads masked columns is refused",
                        "its row counts, the subqueries it ran and the memory it used follow the masked values",
                        "use EXPLAIN without ANALYZE, or a role without masking",
                    ));
                }
                let plan_column = super::scope::Col {
                    name: "QUERY PLAN".into(),
                    lineage: Lineage::default(),
                };
                (
                    ResultSource::Rows,
                    Some(Columns {
                        cols: vec![plan_column],
                        tail: None,
                    }),
                )
            }
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(q) = c.query.as_deref() {
                    let cols = self.statement(q)?.1.unwrap_or_default();
                    self.checks.push(Check::CopyOut {
                        lineage: cols.all(),
                        what: "CREATE TABLE AS",
                    });
                }
                (ResultSource::NoRows, None)
            }
            NodeEnum::ViewStmt(v) => {
                if let Some(q) = v.query.as_deref() {
                    let cols = self.query_node(q, &root)?;
                    self.checks.push(Check::CopyOut {
                        lineage: cols.all(),
                        what: "CREATE VIEW",
                    });
                }
                (ResultSource::NoRows, None)
            }
            // Procedural code can read masked columns and write them anywhere (or RAISE them);
            // pgward cannot read it.
            NodeEnum::DoStmt(_) | NodeEnum::CallStmt(_) => {
                return Err(deny(
                    "masking.opaque_code",
                    "DO and CALL run code that could copy masked columns out",
                    "run the code through a role without masking",
                ))
            }
            other => {
                self.other_statement(other)?;
                (ResultSource::NoRows, None)
            }
        })
    }
}

/// Whether EXPLAIN's options run the statement (`ANALYZE`, not `ANALYZE false`).
fn explain_analyze(options: &[pg_query::Node]) -> bool {
    options.iter().any(|o| match o.node.as_ref() {
        Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case("analyze") => {
            match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
                None => true,
                Some(NodeEnum::Boolean(b)) => b.boolval,
                Some(NodeEnum::String(s)) => !matches!(
                    s.sval.to_ascii_lowercase().as_str(),
                    "false" | "off" | "0" | "no"
                ),
                Some(NodeEnum::Integer(i)) => i.ival != 0,
                _ => true,
            }
        }
        _ => false,
    })
}
