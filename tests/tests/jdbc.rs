//! pgjdbc (Debian's libpostgresql-jdbc-java) through the proxy: the metadata calls CloudBeaver
//! makes on connect and a PreparedStatement that becomes server-prepared, as the read-only role
//! in session pooling. Skipped (with a line saying so) only when java/javac or the jar is absent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pgward_e2e::proxy::ALICE;
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn jdbc_jar() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGJDBC_JAR") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new("/usr/share/java/postgresql.jar");
    p.is_file().then(|| p.to_path_buf())
}

#[test]
fn pgjdbc_metadata_and_prepared_statements() {
    metadata_check(false);
}

/// The same DBeaver/CloudBeaver metadata calls for a masked read-only role, with the corpus's
/// PII columns under `[masking]`: catalog reads carry no PII and must not be refused.
#[test]
fn pgjdbc_metadata_with_masking_configured() {
    metadata_check(true);
}

fn metadata_check(masking: bool) {
    let (Some(java), Some(javac), Some(jar)) = (which("java"), which("javac"), jdbc_jar()) else {
        println!("skipped: pgjdbc check needs java, javac and /usr/share/java/postgresql.jar (apt-get install -y default-jdk-headless libpostgresql-jdbc-java)");
        return;
    };
    let up = upstream::shared();
    let mut builder = ProxyBuilder::new(up.port()).pool_mode("session");
    if masking {
        let pii = [
            "public.users.email",
            "public.users.phone",
            "public.users.ssn",
            "public.users.full_name",
            "public.users.password_hash",
            "public.api_tokens.token",
        ];
        builder = builder
            .set(
                "masking",
                "columns",
                pii.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .set("masking", "strategy", "redact");
    }
    let proxy = builder.start();
    let classes = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/MetadataCheck.java");
    let mut cmd = Command::new(javac);
    cmd.arg("-d").arg(classes.path()).arg(&src);
    run_with_timeout(cmd, None, Duration::from_secs(120), "javac")
        .assert_ok("javac MetadataCheck.java");

    let cp = format!("{}:{}", jar.display(), classes.path().display());
    let url = format!("jdbc:postgresql://127.0.0.1:{}/{}", proxy.port(), APP_DB);
    let mut cmd = Command::new(java);
    cmd.arg("-cp")
        .arg(cp)
        .arg("MetadataCheck")
        .arg(url)
        .arg(ALICE.0)
        .arg(proxy.password(ALICE.0))
        .args(masking.then_some("masked"));
    let out = run_with_timeout(cmd, None, Duration::from_secs(120), "java MetadataCheck");
    out.assert_ok("MetadataCheck");
    assert!(out.stdout.lines().any(|l| l == "OK"), "{}", out.stdout);
}
