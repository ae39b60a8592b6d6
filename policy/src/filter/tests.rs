//! Unit tests of the WHERE judge on PostgreSQL's tree.

use super::*;

fn judge(sql: &str) -> bool {
    let parsed = pg_query::parse(sql, 0).expect("valid SQL");
    let node = parsed.protobuf.stmts[0]
        .stmt
        .as_ref()
        .and_then(|n| n.node.as_ref())
        .expect("statement");
    let v = serde_json::to_value(node).expect("tree");
    let (kind, fields) = v.as_object().and_then(|m| m.iter().next()).expect("kind");
    let (target, pred) = target_of(kind, fields, None, &[]).expect("a write");
    filters(pred.as_ref(), &target, None, &[])
}

#[test]
fn tautologies_do_not_filter() {
    for w in [
        "id IS NOT NULL",
        "public.documents.id = id",
        "documents.id = documents.id",
        "id IN (id)",
        "id = ANY(ARRAY[id])",
        "id = (SELECT id)",
        "id = id + 0",
        "id * 1 = id",
        "NOT (id = 1 AND false)",
        "status IS NULL OR status IS NOT NULL",
        "status = 'a' OR status <> 'a'",
        "id < 5 OR id >= 5",
        "(id = 1) OR NOT (id = 1)",
        "ctid IS NOT NULL",
        "id IN (SELECT id FROM documents)",
        "EXISTS (SELECT 1 FROM documents d WHERE d.id = documents.id)",
        "true",
        "1 = 1",
        "id IS NOT DISTINCT FROM id",
        "NOT (id IS NULL)",
        "id = 1 OR true",
        "status LIKE '%'",
        "status ~ ''",
        "coalesce(id, 0) = coalesce(id, 0)",
        "ROW(id) = ROW(id)",
        "id BETWEEN id AND id",
        "(SELECT count(*) FROM documents) > 0",
    ] {
        assert!(
            !judge(&format!("UPDATE documents SET status = 'x' WHERE {w}")),
            "{w}"
        );
    }
}

#[test]
fn real_filters_do() {
    for w in [
        "id = 1",
        "id = $1",
        "id IN (1, 2)",
        "id = ANY($1)",
        "status IS NULL",
        "lower(status) = 'x'",
        "id = 1 AND true",
        "NOT (id <> 1)",
        "id BETWEEN 1 AND 10",
        "id IN (SELECT doc_id FROM invoices)",
        "id = 1 OR id = 2",
        "false OR id = 1",
        "NOT (true AND id <> 1)",
        "EXISTS (SELECT 1 FROM invoices i WHERE i.doc_id = documents.id)",
    ] {
        assert!(
            judge(&format!("UPDATE documents SET status = 'x' WHERE {w}")),
            "{w}"
        );
    }
    assert!(judge("DELETE FROM documents d WHERE d.id = 3"));
    assert!(!judge(
        "DELETE FROM documents d USING invoices i WHERE i.id = 3"
    ));
    assert!(judge(
        "DELETE FROM documents d USING invoices i WHERE i.doc_id = d.id"
    ));
}
