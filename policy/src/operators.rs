//! Which user-defined operators a use of an operator can reach, by operand types as
//! PostgreSQL resolves them (`func_select_candidate` in short): among the operators of that
//! name visible through search_path, an exact match on the operand types wins (the first in
//! path order; an untyped literal takes the other operand's type); without one, any operator
//! whose argument types the operands reach (same type, implicit cast, or a type we cannot
//! reason about) may be picked. An operand whose type the text and catalog do not tell makes
//! every user-defined operator of that name a candidate (fail closed).

use crate::catalog::{CastContext, Catalog, Oid, Operator, TypeKind};
use crate::pg_facts::{Operand, OperatorUse, PgFacts};

/// An operand's type as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Absent,
    Literal,
    Known(Oid),
    Unknown,
}

/// The user-defined operators among `candidates` (all those visible, in search_path order)
/// that `use_` may resolve to.
pub fn reachable<'c>(
    candidates: Vec<&'c Operator>,
    use_: &OperatorUse,
    facts: &PgFacts,
    catalog: &Catalog,
    search_path: &[String],
    is_user: impl Fn(&Operator) -> bool,
) -> Vec<&'c Operator> {
    let left = type_of(&use_.left, facts, catalog, search_path);
    let right = type_of(&use_.right, facts, catalog, search_path);
    let user = |c: &&Operator| is_user(c);
    if left == Ty::Unknown || right == Ty::Unknown {
        return candidates.into_iter().filter(user).collect();
    }
    // The exact-match step, with an untyped literal read as the other operand's type.
    let exact = |ty: Ty, other: Ty| match (ty, other) {
        (Ty::Literal, Ty::Known(o)) => Some(Some(o)),
        (Ty::Known(t), _) => Some(Some(t)),
        (Ty::Absent, _) => Some(None),
        _ => None,
    };
    if let (Some(l), Some(Some(r))) = (exact(left, right), exact(right, left)) {
        if let Some(first) = candidates.iter().find(|o| o.left == l && o.right == r) {
            return if is_user(first) { vec![*first] } else { vec![] };
        }
    }
    candidates
        .into_iter()
        .filter(user)
        .filter(|o| match (left, o.left) {
            (Ty::Absent, None) => true,
            (Ty::Absent, Some(_)) | (_, None) => false,
            (l, Some(arg)) => applies(l, arg, catalog),
        })
        .filter(|o| applies(right, o.right, catalog))
        .collect()
}

/// Whether an operand of type `ty` can be passed as `arg` without an explicit cast.
fn applies(ty: Ty, arg: Oid, catalog: &Catalog) -> bool {
    let Ty::Known(t) = ty else {
        // Literals coerce to anything; an absent operand matches no argument.
        return ty != Ty::Absent;
    };
    if t == arg {
        return true;
    }
    let opaque = |oid: Oid| {
        catalog
            .type_by_oid(oid)
            .is_none_or(|x| matches!(x.kind, TypeKind::Pseudo | TypeKind::Domain))
    };
    opaque(t)
        || opaque(arg)
        || catalog
            .cast(t, arg)
            .is_some_and(|c| c.context == CastContext::Implicit)
}

fn type_of(operand: &Operand, facts: &PgFacts, catalog: &Catalog, search_path: &[String]) -> Ty {
    match operand {
        Operand::Absent => Ty::Absent,
        Operand::Literal => Ty::Literal,
        Operand::Unknown => Ty::Unknown,
        Operand::Typed(name) => {
            let found = match name.as_slice() {
                [t] => catalog.resolve_type(t, search_path),
                [s, t] => catalog.type_by_name(s, t),
                _ => None,
            };
            found.map_or(Ty::Unknown, |t| Ty::Known(t.oid))
        }
        Operand::Column(name) => column_type(name, facts, catalog, search_path),
    }
}

/// The type of column `name` when every relation of the statement is in the catalog, no
/// other kind of FROM item could define it, and every relation that has such a column
/// agrees on its type (so nearest-scope resolution cannot change it).
fn column_type(name: &str, facts: &PgFacts, catalog: &Catalog, search_path: &[String]) -> Ty {
    if facts.other_sources {
        return Ty::Unknown;
    }
    let mut found: Option<Oid> = None;
    for (schema, rel) in &facts.relations {
        let rel = match schema {
            Some(s) => catalog.relation_by_name(s, rel),
            None => catalog.resolve_relation(rel, search_path),
        };
        let Some(rel) = rel else { return Ty::Unknown };
        match (rel.column(name).map(|c| c.type_oid), found) {
            (Some(t), Some(f)) if t != f => return Ty::Unknown,
            (Some(t), _) => found = Some(t),
            (None, _) => {}
        }
    }
    found.map_or(Ty::Unknown, Ty::Known)
}
