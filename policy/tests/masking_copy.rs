//! COPY ... TO STDOUT with `masking.allow = ["copy"]`: rows masked in text, CSV and binary
//! formats; without it such a COPY is refused (see masking_variants).

mod masking_support;
use masking_support::*;

use pgward_policy::mask::copy::{mask_copy_data, CopyMaskError, CopyState};
use pgward_policy::mask::{copy_mask, MaskConfig, MaskIndex, ResultSource};

fn copy_index() -> MaskIndex {
    let schema = std::fs::read_to_string(corpus_file("schema.sql")).unwrap();
    let config = MaskConfig::new(
        &pii_columns(&schema),
        Some("redact"),
        &[("*.*.email".into(), "partial".into())],
        b"k".to_vec(),
        &["copy".into()],
    )
    .unwrap();
    MaskIndex::build(config, relations(&schema), [], vec!["public".into()])
}

fn run(sql: &str, rows: &[&[u8]]) -> Vec<Vec<u8>> {
    let index = copy_index();
    let p = plan(&index, sql).unwrap();
    let ResultSource::Copy(format) = &p.source else {
        panic!("{sql}: {:?}", p.source)
    };
    let mask = copy_mask(&p, &index);
    let mut state = CopyState::default();
    rows.iter()
        .map(|r| mask_copy_data(r, format, &mask, &mut state).unwrap())
        .collect()
}

#[test]
fn text_format_masks_and_keeps_escapes() {
    let out = run(
        "COPY users (id, email, ssn, status) TO STDOUT",
        &[
            b"1\tzoe@example.com\t123\\t45\tactive\n",
            b"2\t\\N\t\\N\tgone\\\\x\n",
        ],
    );
    assert_eq!(out[0], b"1\tz****@example.com\t****\tactive\n");
    assert_eq!(out[1], b"2\t\\N\t\\N\tgone\\\\x\n");
}

#[test]
fn csv_format_with_quotes_header_and_delimiter() {
    let out = run(
        "COPY (SELECT id, full_name, status FROM users) TO STDOUT WITH (FORMAT csv, HEADER true, DELIMITER ';')",
        &[b"id;full_name;status\n", b"1;\"Lambert; \"\"Zoe\"\"\";active\n", b"2;;x\n"],
    );
    assert_eq!(out[0], b"id;full_name;status\n", "the header is not a row");
    assert_eq!(out[1], b"1;\"****\";active\n");
    assert_eq!(out[2], b"2;;x\n", "NULL stays NULL");
}

#[test]
fn binary_format_masks_text_and_nulls_others() {
    let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    let tuple = |v: &[&[u8]]| {
        let mut t = (v.len() as i16).to_be_bytes().to_vec();
        for f in v {
            t.extend_from_slice(&(f.len() as i32).to_be_bytes());
            t.extend_from_slice(f);
        }
        t
    };
    data.extend_from_slice(&tuple(&[&[0, 0, 0, 1], b"zoe@example.com"]));
    let second = tuple(&[&[0, 0, 0, 2], b"abc@d.e"]);
    let trailer = (-1i16).to_be_bytes().to_vec();
    let out = run(
        "COPY users (id, email) TO STDOUT WITH (FORMAT binary)",
        &[&data, &second, &trailer],
    );
    let mut want = data[..19].to_vec();
    want.extend_from_slice(&tuple(&[&[0, 0, 0, 1], b"z****@example.com"]));
    assert_eq!(out[0], want);
    assert_eq!(out[1], tuple(&[&[0, 0, 0, 2], b"a****@d.e"]));
    assert_eq!(out[2], trailer);
    // A masked column of unknown type (computed) becomes NULL in binary.
    let out = run(
        "COPY (SELECT id, lower(email) FROM users) TO STDOUT WITH (FORMAT binary)",
        &[&data],
    );
    let mut want = data[..19].to_vec();
    want.extend_from_slice(&2i16.to_be_bytes());
    want.extend_from_slice(&4i32.to_be_bytes());
    want.extend_from_slice(&[0, 0, 0, 1]);
    want.extend_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(out[0], want);
}

#[test]
fn malformed_copy_data_is_an_error() {
    let index = copy_index();
    let p = plan(&index, "COPY users (id, email) TO STDOUT").unwrap();
    let ResultSource::Copy(format) = &p.source else {
        panic!()
    };
    let mask = copy_mask(&p, &index);
    let mut st = CopyState::default();
    assert_eq!(
        mask_copy_data(b"1\tx\ty\n", format, &mask, &mut st),
        Err(CopyMaskError::ColumnCount {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        mask_copy_data(b"1\tx", format, &mask, &mut st),
        Err(CopyMaskError::Malformed)
    );
}

#[test]
fn copy_to_a_file_or_program_is_still_refused() {
    let index = copy_index();
    assert!(plan(&index, "COPY users TO '/tmp/x'").is_err());
    assert!(plan(&index, "COPY users TO PROGRAM 'cat'").is_err());
    assert!(plan(
        &index,
        "COPY users TO STDOUT WITH (FORMAT csv, DELIMITER '||')"
    )
    .is_err());
}

#[test]
fn a_column_list_out_of_table_order_masks_the_columns_it_names() {
    // PostgreSQL sends the columns in the list's order, not the table's.
    let out = run(
        "COPY users (ssn, status, id, email) TO STDOUT",
        &[b"078-05-1120\tactive\t1\tzoe@example.com\n"],
    );
    assert_eq!(out[0], b"****\tactive\t1\tz****@example.com\n");
    let out = run(
        "COPY public.users (status, \"full_name\") TO STDOUT (FORMAT csv)",
        &[b"active,Zoe Secret\n"],
    );
    assert_eq!(out[0], b"active,\"****\"\n");
    // A name pgward cannot place is refused rather than guessed.
    assert!(plan(&copy_index(), "COPY users (id, nosuch) TO STDOUT").is_err());
}

#[test]
fn header_is_read_as_postgresql_reads_it() {
    for off in ["'FALSE'", "'Off'", "0", "false", "OFF"] {
        let sql = format!("COPY users (id, ssn) TO STDOUT WITH (FORMAT csv, HEADER {off})");
        let out = run(&sql, &[b"1,078-05-1120\n"]);
        assert_eq!(out[0], b"1,\"****\"\n", "{sql}: the first row is a row");
    }
    for on in ["", "'TRUE'", "On", "1"] {
        let sql = format!("COPY users (id, ssn) TO STDOUT WITH (FORMAT csv, HEADER {on})");
        let out = run(&sql, &[b"id,ssn\n", b"1,078-05-1120\n"]);
        assert_eq!(out[1], b"1,\"****\"\n", "{sql}");
    }
    // PostgreSQL 15 writes a header in text format too.
    let out = run(
        "COPY users (id, ssn) TO STDOUT WITH (HEADER)",
        &[b"id\tssn\n", b"1\t078-05-1120\n"],
    );
    assert_eq!(out, vec![b"id\tssn\n".to_vec(), b"1\t****\n".to_vec()]);
    // A value pgward cannot read (the server refuses it) is not guessed at.
    assert!(!matches!(
        plan(
            &copy_index(),
            "COPY users TO STDOUT WITH (FORMAT csv, HEADER 'yes')"
        )
        .map(|p| p.source),
        Ok(ResultSource::Copy(_))
    ));
}

#[test]
fn an_escaped_escape_does_not_shift_csv_fields() {
    // full_name `a\` is written `"a\\"` with ESCAPE '\': the second backslash is not an
    // escape of the closing quote.
    let out = run(
        "COPY users (full_name, status, ssn) TO STDOUT WITH (FORMAT csv, ESCAPE '\\')",
        &[b"\"a\\\\\",\"x,\\\"y\",078-05-1120\n"],
    );
    assert_eq!(out[0], b"\"****\",\"x,\\\"y\",\"****\"\n");
}
