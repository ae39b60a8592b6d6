//! A masking index built from the corpus' `schema.sql` (parsed with PostgreSQL's grammar),
//! with the PII columns its header lists.
#![allow(dead_code)]

use std::path::PathBuf;

use pg_query::NodeEnum;
use pgward_policy::mask::{mask_plan, ColumnShape, MaskConfig, MaskIndex, MaskPlan, RelationShape};
use pgward_policy::Denial;

pub fn corpus_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corpus")
        .join(name)
}

/// Type name → oid for the types the schema uses.
fn type_oid(name: &str, array: bool) -> u32 {
    let base = match name {
        "text" => 25,
        "int4" | "serial" | "int" | "integer" => 23,
        "int8" | "bigserial" | "bigint" => 20,
        "timestamptz" => 1184,
        "numeric" => 1700,
        "varchar" => 1043,
        "bool" | "boolean" => 16,
        _ => 705,
    };
    match (array, base) {
        (true, 25) => 1009,
        (true, 23) => 1007,
        (true, _) => 2277,
        (false, b) => b,
    }
}

/// The PII columns the schema's header comment lists (`--   public.users.email, ...`).
pub fn pii_columns(schema_sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_list = false;
    for line in schema_sql.lines() {
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        if comment.contains("PII columns") {
            in_list = true;
            continue;
        }
        if in_list {
            out.extend(
                comment
                    .split(',')
                    .map(str::trim)
                    .filter(|s| s.split('.').count() == 3)
                    .map(str::to_string),
            );
        }
    }
    out
}

/// The relations of a schema script: tables from CREATE TABLE, views from CREATE VIEW (their
/// column names taken from the plan of their definition).
pub fn relations(schema_sql: &str) -> Vec<RelationShape> {
    let parsed = pg_query::parse(schema_sql, 0).expect("schema.sql parses");
    let mut out: Vec<RelationShape> = Vec::new();
    for (oid, raw) in (16_385u32..).zip(parsed.protobuf.stmts.iter()) {
        let Some(node) = raw.stmt.as_deref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        match node {
            NodeEnum::CreateStmt(c) => {
                let rel = c.relation.as_ref().expect("relation");
                let mut columns = Vec::new();
                for elt in &c.table_elts {
                    if let Some(NodeEnum::ColumnDef(cd)) = elt.node.as_ref() {
                        let tn = cd.type_name.as_ref().expect("type");
                        let name = tn
                            .names
                            .iter()
                            .filter_map(|n| match n.node.as_ref() {
                                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                                _ => None,
                            })
                            .next_back()
                            .unwrap_or_default();
                        columns.push(ColumnShape {
                            name: cd.colname.clone(),
                            attnum: i16::try_from(columns.len() + 1).unwrap(),
                            type_oid: type_oid(&name, !tn.array_bounds.is_empty()),
                        });
                    }
                }
                out.push(RelationShape {
                    oid,
                    schema: if rel.schemaname.is_empty() {
                        "public".into()
                    } else {
                        rel.schemaname.clone()
                    },
                    name: rel.relname.clone(),
                    columns,
                    view_definition: None,
                });
            }
            NodeEnum::ViewStmt(v) => {
                let rel = v.view.as_ref().expect("view");
                let start = usize::try_from(raw.stmt_location).unwrap();
                let len = usize::try_from(raw.stmt_len).unwrap();
                let text = &schema_sql[start..start + len];
                let as_at = text.to_ascii_uppercase().find(" AS ").expect("AS");
                let definition = text[as_at + 4..].trim().to_string();
                // Column names: the definition's output names, read with the tables so far.
                let index = MaskIndex::build(
                    MaskConfig::new(&["x.x.x".into()], None, &[], vec![], &[]).unwrap(),
                    out.clone(),
                    [],
                    vec!["public".into()],
                );
                let plan = mask_plan(&definition, &index, &["public".into()])
                    .expect("view definition plans");
                let columns = plan[0]
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ColumnShape {
                        name: c.name.clone(),
                        attnum: i16::try_from(i + 1).unwrap(),
                        type_oid: 25,
                    })
                    .collect();
                out.push(RelationShape {
                    oid,
                    schema: "public".into(),
                    name: rel.relname.clone(),
                    columns,
                    view_definition: Some(definition),
                });
            }
            _ => {}
        }
    }
    out
}

/// The index for the corpus schema: its PII columns, `partial` for e-mails, `hash` for
/// tokens, `redact` otherwise.
pub fn corpus_index() -> MaskIndex {
    let schema = std::fs::read_to_string(corpus_file("schema.sql")).expect("schema.sql");
    let pii = pii_columns(&schema);
    assert!(pii.len() >= 5, "schema.sql lists its PII columns: {pii:?}");
    let config = MaskConfig::new(
        &pii,
        Some("redact"),
        &[
            ("*.*.email".into(), "partial".into()),
            ("*.api_tokens.token".into(), "hash".into()),
        ],
        b"test-key".to_vec(),
        &[],
    )
    .expect("config");
    MaskIndex::build(config, relations(&schema), [], vec!["public".into()])
}

pub fn path() -> Vec<String> {
    vec!["$user".into(), "public".into()]
}

/// The plan of the last statement of `sql`.
pub fn plan(index: &MaskIndex, sql: &str) -> Result<MaskPlan, Denial> {
    mask_plan(sql, index, &path()).map(|mut p| p.pop().expect("one statement"))
}

/// 1-based masked positions of `sql`'s result, or `None` when refused.
pub fn masked(index: &MaskIndex, sql: &str) -> Option<Vec<usize>> {
    plan(index, sql)
        .ok()
        .map(|p| p.masked_positions(p.columns.len()))
}

/// Each statement's masked output positions (`None`: refused) against what is wanted; every
/// mismatch is reported at once, with the refusal's reason.
pub fn check(cases: &[(&str, Option<&[usize]>)]) {
    let index = corpus_index();
    let mut failures = Vec::new();
    for (sql, want) in cases {
        let got = masked(&index, sql);
        if got.as_deref() != *want {
            let why = plan(&index, sql).err().map(|d| d.message);
            failures.push(format!("{sql}\n  want {want:?}\n  got  {got:?} {why:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
