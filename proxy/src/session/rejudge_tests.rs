//! A named statement is judged again when what it was judged under changed: the search_path
//! (as PostgreSQL analyses it again) and the policy snapshot (a reload, a catalog read
//! since). A statement prepared under rules that allowed it is not run after a reload that
//! refuses it, in either pool mode.

use super::scripted::*;
use super::scripted_frames::*;
use crate::config::PoolMode;

const MODES: [PoolMode; 2] = [PoolMode::Transaction, PoolMode::Session];

const WRITER: &str = "access = \"read-write\"\nrequire_where = false\n";
const READER: &str = "access = \"read-only\"\n";

/// The role turns read-only: a Bind of `name` (an UPDATE) is refused, nothing of it sent.
async fn refused_after_going_read_only(s: &mut Scripted, name: &str, why: &str) {
    s.reload(READER);
    s.client_sends(&[bind("", name), execute("", 0), sync()])
        .await;
    s.server_sees_only_the_sync().await;
    let got = s.client_until_ready().await;
    assert_eq!(codes(&got), ["42501"], "{why}");
}

/// A read-write session that parsed `w` as an UPDATE, answered.
async fn writer_holding_an_update(mode: PoolMode) -> Scripted {
    let mut s = Scripted::start(mode, WRITER).await;
    s.client_sends(&[parse("w", "UPDATE t SET v = 1"), sync()])
        .await;
    let up = s.server_reads().await;
    let mut answers = vec![parse_complete()];
    if mode == PoolMode::Transaction {
        // pgward's own Describe of a statement it keeps.
        assert_eq!(tags(&up), "PDS", "{mode:?}");
        answers.extend([parameter_description(), no_data()]);
    } else {
        assert_eq!(tags(&up), "PS", "{mode:?}");
    }
    answers.push(ready(b'I'));
    s.server_sends(&answers).await;
    assert_eq!(tags(&s.client_until_ready().await), "1Z", "{mode:?}");
    s
}

#[tokio::test(start_paused = true)]
async fn a_statement_prepared_before_a_reload_is_judged_under_the_new_rules() {
    for mode in MODES {
        let mut s = writer_holding_an_update(mode).await;

        // The role turns read-only: the UPDATE prepared under the old rules is refused at
        // its Bind, and nothing of it reaches the server.
        s.reload(READER);
        s.client_sends(&[bind("", "w"), execute("", 0), sync()])
            .await;
        s.server_sees_only_the_sync().await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "EZ", "{mode:?}");
        assert_eq!(codes(&got), ["42501"], "{mode:?}");

        // Nor are its columns described.
        s.client_sends(&[describe(b'S', "w"), sync()]).await;
        s.server_sees_only_the_sync().await;
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["42501"], "{mode:?}");
    }
}

/// A Parse of a name the client already holds is the server's 42P05: the server keeps the
/// statement it has, and so does pgward, with the text it was judged from (judged again from
/// the refused text, the UPDATE would run after a reload that makes the role read-only).
#[tokio::test(start_paused = true)]
async fn a_parse_refused_for_a_live_name_leaves_the_held_statement_as_it_was() {
    for mode in MODES {
        let mut s = writer_holding_an_update(mode).await;

        s.client_sends(&[parse("w", "SELECT 1"), sync()]).await;
        if mode == PoolMode::Session {
            assert_eq!(tags(&s.server_reads().await), "PS", "{mode:?}");
            let exists = server_error("42P05", "prepared statement \"w\" already exists");
            s.server_sends(&[exists, ready(b'I')]).await;
        } else {
            s.server_sees_only_the_sync().await;
        }
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["42P05"], "{mode:?}");

        let why = format!("{mode:?}: the UPDATE is what \"w\" holds");
        refused_after_going_read_only(&mut s, "w", &why).await;
    }
}

/// Closes the server skips (an error earlier in their batch) leave the statements where they
/// were, still judged again from their own text after a reload, however many there were.
#[tokio::test(start_paused = true)]
async fn statements_whose_close_was_skipped_are_still_judged_again() {
    let mut s = Scripted::start(PoolMode::Session, WRITER).await;
    let names: Vec<String> = (0..80).map(|i| format!("w{i}")).collect();
    let mut batch: Vec<_> = names
        .iter()
        .map(|n| parse(n, "UPDATE t SET v = 1"))
        .collect();
    batch.push(sync());
    s.client_sends(&batch).await;
    s.server_reads().await;
    let mut answers: Vec<_> = names.iter().map(|_| parse_complete()).collect();
    answers.push(ready(b'I'));
    s.server_sends(&answers).await;
    s.client_until_ready().await;

    let mut batch = vec![parse("", "SELECT 1/0"), bind("", ""), execute("", 0)];
    batch.extend(names.iter().map(|n| close(b'S', n)));
    batch.extend([parse("t", "SELECT 1"), sync()]);
    s.client_sends(&batch).await;
    s.server_reads().await;
    let failed = server_error("22012", "division by zero");
    s.server_sends(&[parse_complete(), bind_complete(), failed, ready(b'I')])
        .await;
    assert_eq!(codes(&s.client_until_ready().await), ["22012"]);

    refused_after_going_read_only(&mut s, "w0", "the UPDATE w0 still holds is refused").await;
}

/// A name closed, parsed again and closed again in one batch: the second Close skipped
/// after an error leaves the new statement, and the text it is judged again from.
#[tokio::test(start_paused = true)]
async fn a_statement_restored_by_a_skipped_close_keeps_its_text() {
    let mut s = Scripted::start(PoolMode::Session, WRITER).await;
    s.client_sends(&[parse("s1", "SELECT 1"), sync()]).await;
    s.server_reads().await;
    s.server_sends(&[parse_complete(), ready(b'I')]).await;
    s.client_until_ready().await;

    let batch = [
        close(b'S', "s1"),
        parse("s1", "UPDATE t SET v = 1"),
        bind("", "s1"),
        execute("", 0),
        close(b'S', "s1"),
        sync(),
    ];
    s.client_sends(&batch).await;
    s.server_reads().await;
    let failed = server_error("23505", "duplicate key value violates unique constraint");
    let answers = [
        close_complete(),
        parse_complete(),
        bind_complete(),
        failed,
        ready(b'I'),
    ];
    s.server_sends(&answers).await;
    assert_eq!(codes(&s.client_until_ready().await), ["23505"]);

    refused_after_going_read_only(&mut s, "s1", "judged again as the UPDATE it is").await;
}
