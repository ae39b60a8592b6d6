//! Statement text in a client encoding other than UTF-8: judged as PostgreSQL reads it after
//! converting it, forwarded as the client's bytes, in both pool modes.

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream;
use pgward_e2e::*;
use pgward_e2e::{raw, wire};

const MODES: [&str; 2] = ["session", "transaction"];

/// A Query frame carrying raw bytes (not UTF-8).
fn query_bytes(sql: &[u8]) -> Vec<u8> {
    let mut body = sql.to_vec();
    body.push(0);
    raw::frame(b'Q', &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latin9_text_is_judged_as_the_server_reads_it() {
    let up = upstream::shared();
    let db = up.fresh_db("enc");
    for mode in MODES {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .pool_size(2)
            .start();
        let login = |user: (&'static str, &'static str), enc: &'static str| {
            let proxy = &proxy;
            let db = db.clone();
            async move {
                raw::RawConn::startup(
                    proxy.addr(),
                    user.0,
                    &proxy.password(user.0),
                    &db,
                    &[("client_encoding", enc)],
                )
                .await
                .unwrap_or_else(|e| panic!("startup: {:?}", e.fields()))
            }
        };
        // 0xA4 is the euro sign in LATIN9: the server sees one character, U+20AC.
        let mut c = login(CAROL, "LATIN9").await;
        c.send(&query_bytes(
            b"SELECT length('\xa4'), convert_to('\xa4', 'UTF8') = '\\xe282ac'::bytea",
        ))
        .await
        .unwrap();
        let msgs = c.until_ready(30).await;
        assert!(raw::first_error(&msgs).is_none(), "{mode}: {msgs:?}");
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("1".to_string()), Some("t".to_string())]],
            "{mode}"
        );
        // Extended protocol too.
        let mut parse = b"p\0SELECT '\xa4' = chr(8364)\0".to_vec();
        parse.extend_from_slice(&0u16.to_be_bytes());
        c.send(&wire::batch(&[
            raw::frame(b'P', &parse),
            wire::bind("", "p", &[]),
            wire::execute("", 0),
            wire::sync(),
        ]))
        .await
        .unwrap();
        let msgs = c.until_ready(30).await;
        assert!(raw::first_error(&msgs).is_none(), "{mode}: {msgs:?}");
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("t".to_string())]],
            "{mode}"
        );
        // The judge reads the same text: a read-only role's write is refused as such.
        let mut ro = login(ALICE, "LATIN9").await;
        ro.send(&query_bytes(b"SELECT '\xa4'; DELETE FROM users"))
            .await
            .unwrap();
        let msgs = ro.until_ready(30).await;
        assert_eq!(
            wire::codes(&msgs),
            vec!["42501".to_string()],
            "{mode}: {msgs:?}"
        );
        // Bytes that are not text in UTF8 are still refused for a UTF8 client.
        let mut u = login(ALICE, "UTF8").await;
        u.send(&query_bytes(b"SELECT '\xa4'")).await.unwrap();
        let msgs = u.until_ready(30).await;
        assert_eq!(
            wire::codes(&msgs),
            vec!["22021".to_string()],
            "{mode}: {msgs:?}"
        );
    }
}
