//! Name resolution in subqueries, as PostgreSQL does it: an unqualified column belongs to
//! the nearest enclosing query whose FROM provides it. Where the catalog tells every column
//! a subquery's FROM provides (plain relations, joins of them), a name it lacks resolves
//! outward, possibly to the write's target (`id IN (SELECT id FROM v)` with `v(x)` is
//! `id IN (SELECT t.id FROM v)`). Functions, VALUES lists, subqueries and the subquery's own
//! CTEs name their columns in the text (`id IN (SELECT id FROM generate_series(1, 9) g)` is
//! the target's `id`: `g` provides only `g`). Otherwise the name is taken to be the
//! subquery's own.

use serde_json::Value;

use super::tree::node;
use crate::catalog::Catalog;

/// System columns every table has.
const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"];

/// The columns one subquery level provides to unqualified names.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Exactly these (from the catalog).
    Known(Vec<String>),
    /// Unknown (a relation without the catalog, a CTE of an outer level, a function whose
    /// columns the text does not show, `*`): every unqualified name is taken to be this
    /// level's.
    Opaque,
}

impl Scope {
    /// The scope a subquery (`select`: a SelectStmt's fields) opens with its FROM list.
    /// Functions, VALUES lists, subqueries and the subquery's own CTEs name their columns in
    /// the text; plain relations need the catalog.
    pub fn of(select: &Value, catalog: Option<&Catalog>, search_path: &[String]) -> Scope {
        let ctes = own_ctes(select);
        let Some(Value::Array(items)) = select.get("from_clause") else {
            return Scope::Opaque;
        };
        let mut columns: Vec<String> = Vec::new();
        let mut stack: Vec<&Value> = items.iter().collect();
        while let Some(item) = stack.pop() {
            if let Some(("JoinExpr", f)) = node(item) {
                stack.extend(f.get("larg"));
                stack.extend(f.get("rarg"));
                continue;
            }
            // Only tables have system columns (not functions, VALUES or subqueries).
            if matches!(node(item), Some(("RangeVar", _)))
                && !columns.iter().any(|c| c == SYSTEM_COLUMNS[0])
            {
                columns.extend(SYSTEM_COLUMNS.iter().map(|c| c.to_string()));
            }
            match item_columns(item, catalog, search_path, &ctes) {
                Some(names) => columns.extend(names),
                None => return Scope::Opaque,
            }
        }
        Scope::Known(columns)
    }

    /// Whether an unqualified `column` stops at this level.
    pub fn binds(&self, column: &str) -> bool {
        match self {
            Scope::Known(columns) => columns.iter().any(|c| c == column),
            Scope::Opaque => true,
        }
    }
}

/// The columns one FROM item provides, as named in the statement or the catalog; `None`
/// when they cannot be told.
fn item_columns(
    item: &Value,
    catalog: Option<&Catalog>,
    search_path: &[String],
    ctes: &[(String, Option<Vec<String>>)],
) -> Option<Vec<String>> {
    let (kind, f) = node(item)?;
    let renamed = alias_columns(f);
    let base: Vec<String> = match kind {
        "RangeVar" => {
            let name = f.get("relname").and_then(Value::as_str)?;
            let schema = (f.get("schemaname").and_then(Value::as_str)).filter(|s| !s.is_empty());
            match (schema, ctes.iter().find(|(n, _)| n == name)) {
                (None, Some((_, cols))) => cols.clone()?,
                _ => {
                    let catalog = catalog?;
                    let rel = match schema {
                        Some(s) => catalog.relation_by_name(s, name),
                        None => catalog.resolve_relation(name, search_path),
                    }?;
                    rel.columns.iter().map(|c| c.name.clone()).collect()
                }
            }
        }
        "RangeSubselect" => {
            let (_, sel) = node(f.get("subquery")?)?;
            output_names(sel)?
        }
        "RangeFunction" => function_columns(f)?,
        _ => return None,
    };
    // An alias's column list renames the first columns; a function's names them all.
    Some(match renamed {
        Some(names) if names.len() >= base.len() => names,
        Some(mut names) => {
            names.extend(base.into_iter().skip(names.len()));
            names
        }
        None => base,
    })
}

/// `alias (a, b)`: the names given.
fn alias_columns(f: &Value) -> Option<Vec<String>> {
    let names = f.get("alias")?.get("colnames")?.as_array()?;
    (!names.is_empty()).then(|| names.iter().filter_map(sval).map(str::to_string).collect())
}

/// A function in FROM: a column definition list, or the one column of a scalar or
/// single-column set-returning function (named as the alias or the function), `key` and
/// `value` of the `*_each` family; `None` for anything whose columns the text does not show.
fn function_columns(f: &Value) -> Option<Vec<String>> {
    let calls = f.get("functions")?.as_array()?;
    let mut out = Vec::new();
    for call in calls {
        let (_, list) = node(call)?;
        let parts = list.get("items")?.as_array()?;
        let (_, func) = node(parts.first()?)?;
        let coldefs = parts
            .get(1)
            .and_then(|c| node(c))
            .and_then(|(_, l)| l.get("items"))
            .and_then(Value::as_array);
        let name = func
            .get("funcname")
            .and_then(Value::as_array)
            .and_then(|n| n.last())
            .and_then(sval)?;
        match (coldefs, name) {
            (Some(defs), _) => out.extend(defs.iter().filter_map(|d| {
                let (_, def) = node(d)?;
                def.get("colname")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })),
            (None, "json_each" | "jsonb_each" | "json_each_text" | "jsonb_each_text") => {
                out.extend(["key".to_string(), "value".to_string()])
            }
            // One function's column takes the item's alias; in ROWS FROM each is named
            // after its function.
            (None, n) if SINGLE_COLUMN.contains(&n) => {
                let alias = f
                    .get("alias")
                    .and_then(|a| a.get("aliasname"))
                    .and_then(Value::as_str)
                    .filter(|_| calls.len() == 1);
                out.push(alias.unwrap_or(n).to_string());
            }
            _ => return None,
        }
    }
    if f.get("ordinality").and_then(Value::as_bool) == Some(true) {
        out.push("ordinality".into());
    }
    Some(out)
}

/// Set-returning functions of one column of a base type (named as the function, or as the
/// FROM item's alias).
const SINGLE_COLUMN: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "unnest",
    "regexp_split_to_table",
    "string_to_table",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
];

/// The output column names of a SELECT (or VALUES list) as PostgreSQL names them; `None`
/// where it cannot be told (`*`).
fn output_names(sel: &Value) -> Option<Vec<String>> {
    if let Some(Value::Array(rows)) = sel.get("values_lists").filter(|v| !is_empty(v)) {
        let (_, first) = node(rows.first()?)?;
        let n = first.get("items")?.as_array()?.len();
        return Some((1..=n).map(|i| format!("column{i}")).collect());
    }
    if let Some(larg) = sel.get("larg").filter(|v| !v.is_null()) {
        // A set operation: its first branch names the columns.
        return output_names(
            larg.get("SelectStmt")
                .or_else(|| node(larg).map(|(_, s)| s))?,
        );
    }
    let targets = sel.get("target_list")?.as_array()?;
    targets
        .iter()
        .map(|t| {
            let (_, rt) = node(t)?;
            if let Some(name) = rt.get("name").and_then(Value::as_str) {
                return Some(name.to_string());
            }
            expression_name(rt.get("val")?)
        })
        .collect()
}

/// The name PostgreSQL gives an unnamed output expression.
fn expression_name(v: &Value) -> Option<String> {
    let (kind, f) = node(v)?;
    Some(match kind {
        "ColumnRef" => {
            let last = f.get("fields")?.as_array()?.last()?;
            match node(last)? {
                ("AStar", _) => return None,
                _ => sval(last)?.to_string(),
            }
        }
        "FuncCall" => f
            .get("funcname")
            .and_then(Value::as_array)
            .and_then(|n| n.last())
            .and_then(sval)?
            .to_string(),
        "TypeCast" => match expression_name(f.get("arg")?) {
            Some(n) if n != "?column?" => n,
            _ => strings_last(f.get("type_name")?.get("names")?)?,
        },
        _ => "?column?".to_string(),
    })
}

fn strings_last(names: &Value) -> Option<String> {
    names.as_array()?.last().and_then(sval).map(str::to_string)
}

/// The subquery's own CTEs: name and column names (`None`: not told by the text).
fn own_ctes(select: &Value) -> Vec<(String, Option<Vec<String>>)> {
    let Some(Value::Array(ctes)) = select.get("with_clause").and_then(|w| w.get("ctes")) else {
        return vec![];
    };
    ctes.iter()
        .filter_map(|c| {
            let (_, cte) = node(c)?;
            let name = cte.get("ctename").and_then(Value::as_str)?.to_string();
            let named = cte
                .get("aliascolnames")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().filter_map(sval).map(str::to_string).collect());
            let cols = named.or_else(|| {
                let (_, q) = node(cte.get("ctequery")?)?;
                output_names(q)
            });
            Some((name, cols))
        })
        .collect()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// The text of a `String` node.
fn sval(v: &Value) -> Option<&str> {
    match node(v)? {
        ("String", s) => s.get("sval").and_then(Value::as_str),
        _ => None,
    }
}
