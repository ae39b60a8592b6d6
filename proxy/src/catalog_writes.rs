//! What a write to a relation sets off beyond the relation's own triggers, rules, defaults
//! and cascades: a write through an updatable view lands in the view's base relation, and a
//! write to a partitioned or inheritance parent lands in its partitions or children, with
//! their triggers and foreign keys. The catalog snapshot records on each relation what any of
//! those may run, so `max_affected_rows` sees it whichever name the statement writes through.

use std::collections::HashMap;

use pgward_policy::catalog::{Oid, OnWrite, Relation};

/// (relation, relation a write to it may reach): inheritance children and partitions, and
/// the relations a view's query reads (an auto-updatable view writes its one base relation;
/// one that is not writable runs rules or triggers of its own, already on the view).
pub const EDGES_SQL: &str = "SELECT inhparent, inhrelid FROM pg_inherits \
     UNION SELECT r.ev_class, d.refobjid FROM pg_rewrite r JOIN pg_depend d \
       ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
       AND d.refclassid = 'pg_class'::regclass \
     WHERE r.rulename = '_RETURN' AND d.refobjid <> r.ev_class";

/// How deep views over views and partitions of partitions are followed; deeper is taken to
/// run anything (fail closed).
const MAX_DEPTH: usize = 32;

/// Each relation's `on_write` joined with that of every relation a write to it may reach.
pub fn spread(relations: &mut [Relation], edges: &[(Oid, Oid)]) {
    let mut reaches: HashMap<Oid, Vec<Oid>> = HashMap::new();
    for (from, to) in edges {
        reaches.entry(*from).or_default().push(*to);
    }
    let own: HashMap<Oid, OnWrite> = relations.iter().map(|r| (r.oid, r.on_write)).collect();
    let mut memo: HashMap<Oid, OnWrite> = HashMap::new();
    for r in relations.iter_mut() {
        r.on_write = reached(r.oid, &own, &reaches, &mut memo, 0);
    }
}

fn reached(
    oid: Oid,
    own: &HashMap<Oid, OnWrite>,
    reaches: &HashMap<Oid, Vec<Oid>>,
    memo: &mut HashMap<Oid, OnWrite>,
    depth: usize,
) -> OnWrite {
    if let Some(done) = memo.get(&oid) {
        return *done;
    }
    if depth > MAX_DEPTH {
        return OnWrite {
            user_code: true,
            cascades: true,
        };
    }
    let mut out = own.get(&oid).copied().unwrap_or_default();
    for next in reaches.get(&oid).into_iter().flatten() {
        let n = reached(*next, own, reaches, memo, depth + 1);
        out.user_code |= n.user_code;
        out.cascades |= n.cascades;
    }
    memo.insert(oid, out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgward_policy::catalog::RelationKind;

    fn rel(oid: Oid, user_code: bool, cascades: bool) -> Relation {
        Relation {
            oid,
            schema: "public".into(),
            name: format!("r{oid}"),
            kind: RelationKind::Table,
            columns: vec![],
            view_definition: None,
            on_write: OnWrite {
                user_code,
                cascades,
            },
        }
    }

    #[test]
    fn a_write_through_a_view_or_a_parent_carries_what_it_reaches() {
        // 1: view over 2 (a table with a trigger); 3: partitioned parent of 4 and 5 (5
        // cascades); 6: view over view 1; 7: a plain table.
        let mut rels = vec![
            rel(1, false, false),
            rel(2, true, false),
            rel(3, false, false),
            rel(4, false, false),
            rel(5, false, true),
            rel(6, false, false),
            rel(7, false, false),
        ];
        spread(&mut rels, &[(1, 2), (3, 4), (3, 5), (6, 1)]);
        let on = |oid: Oid| rels.iter().find(|r| r.oid == oid).map(|r| r.on_write);
        assert_eq!(
            on(1).map(|w| (w.user_code, w.cascades)),
            Some((true, false))
        );
        assert_eq!(
            on(6).map(|w| (w.user_code, w.cascades)),
            Some((true, false))
        );
        assert_eq!(
            on(3).map(|w| (w.user_code, w.cascades)),
            Some((false, true))
        );
        assert_eq!(
            on(4).map(|w| (w.user_code, w.cascades)),
            Some((false, false))
        );
        assert_eq!(
            on(7).map(|w| (w.user_code, w.cascades)),
            Some((false, false))
        );
    }
}
