//! Unit tests of `audit.rs`: the JSON line, written by hand, parsed back.

use super::*;
use pgward_policy::{Denial, Verdict};

fn line(who: AuditSession, app: &str, verdict: Verdict, sqlstate: Option<&str>) -> String {
    let event = AuditEvent {
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        who: Arc::new(who),
        application_name: Arc::from(app),
        decision: Arc::new(Decision {
            verdict,
            fingerprint: 0xabc,
            normalized: Arc::from("SELECT \"a\\b\"\n FROM t WHERE x = $1 -- é\u{1}"),
            statements: Vec::new(),
            mask: None,
        }),
        rows: 7,
        duration: Duration::from_micros(1500),
        sqlstate: sqlstate.map(str::to_string),
    };
    let mut out = Vec::new();
    write_record(&mut Default::default(), &mut out, &event);
    String::from_utf8(out).unwrap()
}

#[test]
fn a_record_is_one_json_line_with_every_value_escaped() {
    let who = AuditSession::new(42, "a\"li\\ce", "r\nw", "127.0.0.1:5", "d\u{7f}b");
    let text = line(who, "app \"x\"\t", Verdict::Allow, Some("57014"));
    assert_eq!(text.matches('\n').count(), 1);
    assert!(text.ends_with('\n'));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ts"], "2023-11-14T22:13:20.123Z");
    assert_eq!(v["session"], 42);
    assert_eq!(v["user"], "a\"li\\ce");
    assert_eq!(v["role"], "r\nw");
    assert_eq!(v["client"], "127.0.0.1:5");
    assert_eq!(v["database"], "d\u{7f}b");
    assert_eq!(v["application_name"], "app \"x\"\t");
    assert_eq!(
        v["statement"],
        "SELECT \"a\\b\"\n FROM t WHERE x = $1 -- é\u{1}"
    );
    assert_eq!(v["fingerprint"], "0000000000000abc");
    assert_eq!(v["decision"], "allowed");
    assert!(v.get("rule").is_none());
    assert_eq!(v["masked"], serde_json::json!([]));
    assert_eq!(v["rows"], 7);
    assert_eq!(v["duration_ms"], 1.5);
    assert_eq!(v["sqlstate"], "57014");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys.len(), 14);
}

#[test]
fn a_refusal_names_its_rule_and_42501() {
    let denial = Denial {
        rule: "read_only.write",
        message: "no".into(),
        detail: String::new(),
        hint: String::new(),
        sqlstate: "42501",
        position: None,
        audited: true,
    };
    let who = AuditSession::new(1, "u", "r", "c", "d");
    let text = line(who, "", Verdict::Deny(denial), None);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["decision"], "denied");
    assert_eq!(v["rule"], "read_only.write");
    assert_eq!(v["sqlstate"], "42501");
}
