use super::*;

fn p() -> FunctionPolicy {
    FunctionPolicy::new(&["public.my_report".into()], &["public.wipe".into()])
}
fn v(parts: &[&str], path: &[&str]) -> FunctionVerdict {
    let parts: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    p().judge(&parts, &path)
}

#[test]
fn resolution() {
    assert_eq!(v(&["lower"], &["public"]), FunctionVerdict::Safe);
    assert_eq!(v(&["pg_catalog", "lower"], &[]), FunctionVerdict::Safe);
    assert!(matches!(
        v(&["public", "lower"], &["public"]),
        FunctionVerdict::Unknown(_)
    ));
    assert!(matches!(
        v(&["nextval"], &["public"]),
        FunctionVerdict::SideEffect(_)
    ));
    assert!(matches!(
        v(&["pg_catalog", "nextval"], &[]),
        FunctionVerdict::SideEffect(_)
    ));
    assert_eq!(v(&["my_report"], &["public"]), FunctionVerdict::Safe);
    // An unresolved `$user` may be a schema defining my_report.
    assert!(matches!(
        v(&["my_report"], &["$user", "public"]),
        FunctionVerdict::Unknown(_)
    ));
    assert_eq!(v(&["lower"], &["$user", "public"]), FunctionVerdict::Safe);
    assert!(matches!(
        v(&["wipe"], &["public"]),
        FunctionVerdict::SideEffect(_)
    ));
    assert!(matches!(
        v(&["my_report"], &["other"]),
        FunctionVerdict::Unknown(_)
    ));
    // pg_catalog listed after public: public is searched first and we know nothing there.
    assert!(matches!(
        v(&["lower"], &["other", "pg_catalog"]),
        FunctionVerdict::Unknown(_)
    ));
    assert_eq!(
        v(&["lower"], &["pg_catalog", "public"]),
        FunctionVerdict::Safe
    );
    assert!(matches!(
        v(&["my_udf"], &["public"]),
        FunctionVerdict::Unknown(_)
    ));
}
