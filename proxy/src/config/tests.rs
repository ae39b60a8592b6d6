use super::*;

const MINIMAL: &str = r#"
[upstream]
host = "127.0.0.1"
port = 5432
tls = "disable"
[logins.readonly]
user = "app_ro"
password = "x"
[roles.engineer]
login = "readonly"
[users.alice]
password = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$2y0CJ4c6mfmqBlFFbOyAU7kvnXcMUT9nNuwxqfB9xqg=:9Lc0wA9b1SrOhIhyiVuryHaBgUTvj4VEOMV0bTgU4tI="
role = "engineer"
"#;

fn err_of(text: &str) -> String {
    match Config::from_toml(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::from_toml(MINIMAL).unwrap();
    assert_eq!(c.listen.address.to_string(), "127.0.0.1:6432");
    assert_eq!(c.pool.mode, PoolMode::Transaction);
    assert_eq!(c.pool.size, 20);
    let role = &c.roles["engineer"];
    assert_eq!(
        role.rules.access,
        Access::ReadOnly,
        "read-only is the default"
    );
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("logins.readonly.password")));
}

#[test]
fn errors_name_the_key() {
    let bad_role = MINIMAL.replace("login = \"readonly\"", "login = \"nope\"");
    assert!(err_of(&bad_role).contains("roles.engineer.login"));
    let bad_user = MINIMAL.replace("role = \"engineer\"", "role = \"ghost\"");
    assert!(err_of(&bad_user).contains("users.alice.role"));
    let bad_duration = format!("{MINIMAL}\n[pool]\ncheckout_timeout = \"5 parsecs\"\n");
    assert!(err_of(&bad_duration).contains("pool.checkout_timeout"));
    let unknown = MINIMAL.replace("[upstream]", "[upstream]\nhots = \"x\"");
    let e = err_of(&unknown);
    assert!(e.contains("hots") && e.contains("line"), "{e}");
    let bad_verifier = MINIMAL.replace("SCRAM-SHA-256$4096:", "SCRAM-SHA-256$x:");
    assert!(err_of(&bad_verifier).contains("users.alice.password"));
}

#[test]
fn secrets_from_env_and_file() {
    std::env::set_var("PGWARD_TEST_SECRET_ENV", "from-env");
    let text = MINIMAL.replace(
        "password = \"x\"",
        "password_env = \"PGWARD_TEST_SECRET_ENV\"",
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(c.logins["readonly"].password.as_deref(), Some("from-env"));
    assert!(c.warnings.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, "from-file\n").unwrap();
    let text = MINIMAL.replace(
        "password = \"x\"",
        &format!("password_file = \"{}\"", path.display()),
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(c.logins["readonly"].password.as_deref(), Some("from-file"));

    let missing = MINIMAL.replace(
        "password = \"x\"",
        "password_env = \"PGWARD_TEST_NOT_SET_ANYWHERE\"",
    );
    assert!(err_of(&missing).contains("logins.readonly.password_env"));
    let both = MINIMAL.replace("password = \"x\"", "password = \"x\"\npassword_env = \"Y\"");
    assert!(err_of(&both).contains("only one"));
}

#[test]
fn require_tls_needs_a_certificate() {
    let text = format!("[listen]\nclient_tls = \"require\"\n{MINIMAL}");
    assert!(err_of(&text).contains("listen.client_tls"));
}

#[test]
fn plaintext_user_password_is_hashed_with_a_warning() {
    let text = MINIMAL.replace(
        "password = \"SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$2y0CJ4c6mfmqBlFFbOyAU7kvnXcMUT9nNuwxqfB9xqg=:9Lc0wA9b1SrOhIhyiVuryHaBgUTvj4VEOMV0bTgU4tI=\"",
        "password = \"plain\"",
    );
    let c = Config::from_toml(&text).unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("users.alice.password")));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = MINIMAL
        .replace("login = \"readonly\"", "login = \"nope\"")
        .replace("role = \"engineer\"", "role = \"ghost\"")
        + "\n[pool]\nsize = 0\ncheckout_timeout = \"5 parsecs\"\n";
    let e = Config::from_toml(&text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for key in [
        "roles.engineer.login",
        "users.alice.role",
        "pool.size",
        "pool.checkout_timeout",
    ] {
        assert!(e.contains(key), "{key} missing from: {e}");
    }
}

#[test]
fn missing_secrets_are_optional_for_explain() {
    let text = MINIMAL.replace(
        "password = \"x\"",
        "password_env = \"PGWARD_TEST_SURELY_UNSET_1\"",
    );
    let e = Config::from_toml(&text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("PGWARD_TEST_SURELY_UNSET_1"), "{e}");
    let c = Config::from_toml_with(&text, Secrets::Optional).unwrap();
    assert!(c.logins["readonly"].password.is_none());
    assert!(c.role_of("alice").is_some());
}

#[test]
fn peers_are_validated() {
    let ok = format!(
        "{MINIMAL}\n[peers]\nself = 2\nreuse_port = true\n[peers.members]\n1 = \"127.0.0.1:6432\"\n2 = \"127.0.0.1:6432\"\n"
    );
    let c = Config::from_toml(&ok).unwrap();
    let p = c.peers.unwrap();
    assert_eq!(p.self_id, 2);
    assert!(p.reuse_port);
    assert_eq!(p.members.len(), 2);
    let bad = format!("{MINIMAL}\n[peers]\nself = 0\n");
    assert!(Config::from_toml(&bad)
        .err()
        .unwrap()
        .to_string()
        .contains("peers.self"));
    let bad_member = format!("{MINIMAL}\n[peers]\nself = 1\n[peers.members]\n1 = \"nowhere\"\n");
    assert!(Config::from_toml(&bad_member)
        .err()
        .unwrap()
        .to_string()
        .contains("peers.members.1"));
}

#[test]
fn settings_without_effect_warn() {
    let text = MINIMAL.replace(
        "login = \"readonly\"",
        "login = \"readonly\"\nmax_affected_rows = 10",
    ) + "\n[logins.spare]\nuser = \"x\"\npassword = \"y\"\n";
    let c = Config::from_toml(&text).unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("max_affected_rows")));
    assert!(c.warnings.iter().any(|w| w.contains("logins.spare")));
}

#[test]
fn masking_is_parsed_into_the_policy() {
    let c = Config::from_toml(&format!(
        "{MINIMAL}\n[masking]\ncolumns = [\"public.users.email\", \"*.*.password*\"]\nstrategy = \"null\"\nallow = [\"copy\"]\n[masking.strategies]\n\"public.users.email\" = \"partial\"\n"
    ))
    .unwrap();
    let m = c.policy.masking.as_ref().expect("masking applied");
    assert_eq!(
        m.strategy_for("public", "users", "email"),
        Some(pgward_policy::mask::Strategy::Partial)
    );
    assert_eq!(
        m.strategy_for("billing", "accounts", "password_hash"),
        Some(pgward_policy::mask::Strategy::Null)
    );
    assert!(m.allow.copy);
    assert!(!c.warnings.iter().any(|w| w.contains("not applied")));
}

#[test]
fn masking_problems_name_their_key() {
    let bad = [
        ("columns = [\"users.email\"]", "masking.columns"),
        (
            "columns = [\"public.users.email\"]\nstrategy = \"scramble\"",
            "masking.strategy",
        ),
        (
            "columns = [\"public.users.email\"]\nallow = [\"everything\"]",
            "masking.allow",
        ),
        (
            "columns = [\"public.users.email\"]\nstrategy = \"hash\"",
            "masking.hash_key_env",
        ),
        (
            "columns = [\"public.users.email\"]\nstrategy = \"hash\"\nhash_key_env = \"PGWARD_TEST_NO_SUCH_KEY_VAR\"",
            "masking.hash_key_env",
        ),
        ("colums = []", "colums"),
    ];
    for (section, key) in bad {
        let e = err_of(&format!("{MINIMAL}\n[masking]\n{section}\n"));
        assert!(e.contains(key), "{section}: {e}");
    }
}

#[test]
fn allow_set_role_reaches_the_rules_of_read_write_roles_only() {
    let c = Config::from_toml(MINIMAL).unwrap();
    assert!(!c.roles["engineer"].rules.allow_set_role, "off by default");
    // `$user` in search_path names the login's user.
    assert_eq!(c.roles["engineer"].rules.upstream_user, "app_ro");
    let read_write = MINIMAL.replace(
        "login = \"readonly\"",
        "login = \"readonly\"\naccess = \"read-write\"\nallow_set_role = true",
    );
    let c = Config::from_toml(&read_write).unwrap();
    assert!(c.roles["engineer"].rules.allow_set_role);
    let read_only = MINIMAL.replace(
        "login = \"readonly\"",
        "login = \"readonly\"\nallow_set_role = true",
    );
    let c = Config::from_toml(&read_only).unwrap();
    assert!(!c.roles["engineer"].rules.allow_set_role);
    assert!(c.warnings.iter().any(|w| w.contains("allow_set_role")));
}
