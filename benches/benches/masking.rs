//! The cost of masking: rewriting a 10-column DataRow with 3 masked columns (text and binary
//! formats, each strategy), and planning a masked query (uncached).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pgward_policy::mask::wire::{bind, mask_data_row, FieldInfo};
use pgward_policy::mask::{mask_plan, ColumnShape, MaskConfig, MaskIndex, RelationShape};

const COLUMNS: [(&str, u32); 10] = [
    ("id", 23),
    ("email", 25),
    ("full_name", 25),
    ("phone", 25),
    ("status", 25),
    ("organization_id", 23),
    ("created_at", 1184),
    ("updated_at", 1184),
    ("note", 25),
    ("score", 23),
];

fn index(strategy: &str) -> MaskIndex {
    let users = RelationShape {
        oid: 16_400,
        schema: "public".into(),
        name: "users".into(),
        columns: COLUMNS
            .iter()
            .zip(1i16..)
            .map(|((name, ty), attnum)| ColumnShape {
                name: (*name).into(),
                attnum,
                type_oid: *ty,
            })
            .collect(),
        view_definition: None,
    };
    let config = MaskConfig::new(
        &[
            "public.users.email".into(),
            "public.users.full_name".into(),
            "public.users.phone".into(),
        ],
        Some(strategy),
        &[],
        b"bench-key".to_vec(),
        &[],
    )
    .expect("config");
    MaskIndex::build(config, vec![users], [], vec!["public".into()])
}

fn row(binary: bool) -> Vec<u8> {
    let values: [&[u8]; 10] = [
        if binary { &[0, 0, 0, 42] } else { b"42" },
        b"zoe.lambert@example.com",
        b"Zoe Lambert",
        b"+1 555 867 1120",
        b"active",
        if binary { &[0, 0, 0, 7] } else { b"7" },
        b"2026-11-30 07:00:00+00",
        b"2026-11-30 07:00:00+00",
        b"a short free-text note",
        if binary { &[0, 0, 0, 99] } else { b"99" },
    ];
    let mut b = 10i16.to_be_bytes().to_vec();
    for v in values {
        b.extend_from_slice(&(v.len() as i32).to_be_bytes());
        b.extend_from_slice(v);
    }
    b
}

fn bench(c: &mut Criterion) {
    let path = vec!["public".to_string()];
    let sql = "SELECT * FROM users WHERE id = $1";
    for strategy in ["redact", "partial", "hash", "null"] {
        let index = index(strategy);
        let plans = mask_plan(sql, &index, &path).expect("plan");
        for (format, binary) in [("text", false), ("binary", true)] {
            let fields: Vec<FieldInfo> = COLUMNS
                .iter()
                .zip(1i16..)
                .map(|((_, ty), attnum)| FieldInfo {
                    table_oid: 16_400,
                    attnum,
                    type_oid: *ty,
                    format: i16::from(binary),
                })
                .collect();
            let bound = bind(&plans[0], &fields, &index);
            assert_eq!(bound.masked_positions(), vec![2, 3, 4]);
            let body = row(binary);
            c.bench_function(&format!("mask_10_column_row/{strategy}/{format}"), |b| {
                b.iter(|| mask_data_row(black_box(&body), &bound))
            });
        }
    }
    let index = index("redact");
    c.bench_function("mask_plan/select_star_lookup", |b| {
        b.iter(|| mask_plan(black_box(sql), &index, &path))
    });
    c.bench_function("mask_plan/join_cte_aggregate", |b| {
        b.iter(|| {
            mask_plan(
                black_box("WITH a AS (SELECT id, email FROM users WHERE phone = $1) SELECT a.id, count(*), max(a.email) FROM a JOIN users u ON u.id = a.id GROUP BY a.id"),
                &index,
                &path,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
