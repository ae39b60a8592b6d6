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

#[tokio::test(start_paused = true)]
async fn a_statement_prepared_before_a_reload_is_judged_under_the_new_rules() {
    for mode in MODES {
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
