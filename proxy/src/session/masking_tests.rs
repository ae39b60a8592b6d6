//! Unit tests of `masking.rs`.

use super::*;
use crate::session::prepared::Space;
use pgward_policy::mask::{DecisionMask, MaskConfig, MaskIndex, MaskedColumn};

fn owner(plans: Vec<MaskPlan>, reply: MaskedReply) -> ReplyMask {
    let config =
        MaskConfig::new(&["public.users.email".into()], None, &[], vec![], &[]).expect("config");
    let index = MaskIndex::from_catalog(
        config,
        &pgward_policy::Catalog::default(),
        vec!["pg_catalog".into()],
    );
    ReplyMask {
        decision: Arc::new(DecisionMask {
            plans,
            index: Arc::new(index),
        }),
        reply,
    }
}

fn plan(source: ResultSource, masked: &[bool]) -> MaskPlan {
    MaskPlan {
        source,
        columns: masked
            .iter()
            .enumerate()
            .map(|(i, m)| MaskedColumn {
                name: format!("c{i}"),
                strategy: m.then_some(Strategy::Redact),
                type_oid: None,
            })
            .collect(),
        rest: None,
        scrub: Scrub::Values,
    }
}

fn row(values: &[&str]) -> Vec<u8> {
    let mut out = (values.len() as u16).to_be_bytes().to_vec();
    for v in values {
        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// A RowDescription of text columns (no table origin).
fn text_fields(n: usize) -> Vec<u8> {
    let mut out = (n as u16).to_be_bytes().to_vec();
    for i in 0..n {
        out.extend_from_slice(format!("c{i}\0").as_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&25u32.to_be_bytes());
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
    }
    out
}

#[test]
fn a_query_masks_each_statement_with_its_own_plan() {
    let o = owner(
        vec![
            plan(ResultSource::Rows, &[false]),
            plan(ResultSource::Rows, &[false, true]),
        ],
        MaskedReply::Query,
    );
    let mut m = ResultMasking::default();
    assert_eq!(m.on_row_description(&text_fields(1), &o), 0);
    assert_eq!(
        m.mask_row(&row(&["a@b.c"]), &o),
        None,
        "forwarded as it came"
    );
    m.on_complete(Some(&o), false);
    assert_eq!(m.on_row_description(&text_fields(2), &o), 1);
    assert_eq!(
        m.mask_row(&row(&["1", "a@b.c"]), &o),
        Some(row(&["1", "****"]))
    );
    m.on_ready();
    assert_eq!(m.0.as_ref().map(|s| s.statement), Some(0));
}

#[test]
fn an_execute_nobody_described_masks_to_null() {
    let o = owner(
        vec![plan(ResultSource::Rows, &[false, true])],
        MaskedReply::Execute(String::new()),
    );
    let mut m = ResultMasking::default();
    let masked = m.mask_row(&row(&["1", "secret"]), &o).expect("masked");
    let mut want = row(&["1"]);
    want[1] = 2;
    want.extend_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(masked, want);
}

#[test]
fn a_described_portal_keeps_text_masking() {
    let o = owner(
        vec![plan(ResultSource::Rows, &[true])],
        MaskedReply::Execute("p".into()),
    );
    let d = owner(vec![], MaskedReply::Describe(Space::Statement, "s".into()));
    let mut m = ResultMasking::default();
    m.on_row_description(&text_fields(1), &d);
    m.on_bind("s", "p");
    assert_eq!(m.mask_row(&row(&["secret"]), &o), Some(row(&["****"])));
}

#[test]
fn a_statement_described_after_its_bind_still_gives_the_types() {
    let o = owner(
        vec![plan(ResultSource::Rows, &[true])],
        MaskedReply::Execute("p".into()),
    );
    let mut m = ResultMasking::default();
    // The statement's Parse carried its mask (as it does in a session) before the Bind.
    m.on_parse("s", true);
    let d = describe(Space::Statement, "s");
    m.on_bind("s", "p");
    m.on_row_description(&text_fields(1), &d);
    assert_eq!(m.mask_row(&row(&["secret"]), &o), Some(row(&["****"])));
}

#[test]
fn fetch_uses_the_plan_recorded_at_declare() {
    let declare = owner(
        vec![plan(
            ResultSource::DeclaresCursor("c".into()),
            &[false, true],
        )],
        MaskedReply::Query,
    );
    let mut m = ResultMasking::default();
    m.on_complete(Some(&declare), false);
    m.on_ready();
    let fetch = owner(
        vec![mask_everything(ResultSource::Fetches("c".into()))],
        MaskedReply::Query,
    );
    m.on_row_description(&text_fields(2), &fetch);
    assert_eq!(
        m.mask_row(&row(&["1", "x@y.z"]), &fetch),
        Some(row(&["1", "****"]))
    );
    // An unknown cursor: every column masked.
    m.on_ready();
    let other = owner(
        vec![mask_everything(ResultSource::Fetches("nope".into()))],
        MaskedReply::Query,
    );
    m.on_row_description(&text_fields(2), &other);
    assert_eq!(
        m.mask_row(&row(&["1", "x@y.z"]), &other),
        Some(row(&["****", "****"]))
    );
}

#[test]
fn a_row_of_the_wrong_width_becomes_nulls() {
    let o = owner(vec![plan(ResultSource::Rows, &[true])], MaskedReply::Query);
    let mut m = ResultMasking::default();
    m.on_row_description(&text_fields(1), &o);
    assert_eq!(m.mask_row(&row(&["a", "b"]), &o), Some(null_row(2)));
}

#[test]
fn a_session_without_masked_statements_holds_no_state() {
    let mut m = ResultMasking::default();
    m.on_parse("s", false);
    m.on_bind("s", "p");
    m.on_complete(None, false);
    m.on_error();
    m.on_ready();
    m.clear();
    assert!(m.0.is_none());
    m.on_parse("t", true);
    assert!(m.0.is_some());
}

#[test]
fn a_closed_name_keeps_nothing_it_described() {
    let mut m = ResultMasking::default();
    m.on_parse("s", true);
    let d = describe(Space::Statement, "s");
    m.on_row_description(&text_fields(1), &d);
    m.on_bind("s", "p");
    let p = describe(Space::Portal, "p");
    m.on_row_description(&text_fields(1), &p);
    let held = |m: &mut ResultMasking| {
        let s = m.state();
        (
            s.described_statements.len(),
            s.described_portals.len(),
            s.portal_statement.len(),
        )
    };
    assert_eq!(held(&mut m), (1, 1, 1));
    // Names a client parses, describes and closes, one after another, leave nothing behind.
    m.on_close(Space::Portal, "p");
    m.on_close(Space::Statement, "s");
    assert_eq!(held(&mut m), (0, 0, 0));
}

fn describe(space: Space, name: &str) -> ReplyMask {
    owner(vec![], MaskedReply::Describe(space, name.into()))
}

#[test]
fn a_finished_transaction_leaves_only_open_portals_behind() {
    let mut m = ResultMasking::default();
    m.on_parse("s", true);
    for p in ["", "p1", "p2"] {
        m.on_bind("s", p);
        let d = describe(Space::Portal, p);
        m.on_row_description(&text_fields(1), &d);
    }
    m.retain_portals(|name| name == "p2");
    let s = m.state();
    let mut kept: Vec<_> = s.portal_statement.keys().cloned().collect();
    kept.sort();
    assert_eq!(kept, ["", "p2"]);
    assert_eq!(s.described_portals.len(), 2);
}
