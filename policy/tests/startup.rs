//! Startup parameters, the `options` string, identifier folding and search_path parsing.

mod common;
use common::*;
use pgward_policy::{
    fold_identifier, parse_search_path, parse_startup_options, StartupParamVerdict as V,
};

#[test]
fn startup_parameters() {
    let e = engine();
    let r = readonly();
    let pass =
        |n: &str, v: &str| assert_eq!(e.check_startup_parameter(n, v, &r), V::Pass, "{n}={v}");
    let refuse = |n: &str, v: &str| {
        assert!(
            matches!(e.check_startup_parameter(n, v, &r), V::Refuse(_)),
            "{n}={v}"
        )
    };
    pass("application_name", "psql");
    pass("DateStyle", "ISO, MDY");
    pass("TimeZone", "UTC");
    pass("client_encoding", "SQL_ASCII");
    pass("client_encoding", "UTF8");
    pass("extra_float_digits", "3");
    pass("statement_timeout", "10s");
    assert_eq!(
        e.check_startup_parameter("search_path", "public", &r),
        V::SessionFact
    );
    refuse("client_encoding", "SJIS");
    refuse("client_encoding", "GB18030");
    refuse("default_transaction_read_only", "off");
    refuse("transaction_read_only", "off");
    refuse("statement_timeout", "0");
    refuse("statement_timeout", "1h");
    refuse("role", "postgres");
    refuse("session_authorization", "postgres");
    pass("standard_conforming_strings", "off");
    pass("standard_conforming_strings", "on");
    refuse("standard_conforming_strings", "sometimes");
    refuse("replication", "database");
    refuse("session_replication_role", "replica");
    refuse("some_unknown_guc", "1");
    pass("options", "-c application_name=x --extra-float-digits=2");
    assert_eq!(
        e.check_startup_parameter("options", "-c search_path=public", &r),
        V::SessionFact
    );
    refuse("options", "-c default_transaction_read_only=off");
    refuse("options", "-cstatement_timeout=0");
    refuse("options", "--role=postgres");
    refuse("options", "-B 100");
}

#[test]
fn options_parse_like_postgres() {
    let p = parse_startup_options(
        "-c search_path=a,b  -cstatement_timeout=5s --application-name=my\\ app",
    )
    .expect("parses");
    assert_eq!(
        p,
        vec![
            ("search_path".into(), "a,b".into()),
            ("statement_timeout".into(), "5s".into()),
            ("application_name".into(), "my app".into())
        ]
    );
    assert!(parse_startup_options("-c").is_err());
    assert!(parse_startup_options("-c novalue").is_err());
    assert!(parse_startup_options("-x 1").is_err());
    assert_eq!(parse_startup_options("").expect("empty"), vec![]);
}

#[test]
fn identifiers_fold_like_postgres() {
    assert_eq!(fold_identifier("MyTable"), "mytable");
    assert_eq!(fold_identifier("\"MyTable\""), "MyTable");
    assert_eq!(fold_identifier(&"a".repeat(100)).len(), 63);
    assert_eq!(
        parse_search_path("\"$user\", public"),
        vec!["$user", "public"]
    );
    assert_eq!(parse_search_path("Foo, \"Bar\""), vec!["foo", "Bar"]);
}
