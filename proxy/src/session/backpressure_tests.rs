//! Back-pressure (`backpressure.rs`): a client that pipelines without reading is not read
//! past the bound of owed answers; once the server answers, pgward takes the rest.

use super::scripted::*;
use super::scripted_frames::*;
use crate::config::PoolMode;

const READER: &str = "access = \"read-only\"\n";

#[tokio::test(start_paused = true)]
async fn a_client_is_not_read_past_the_answers_it_is_owed() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let mut s = Scripted::start(mode, READER).await;
        let sent = 12_000;
        let queries: Vec<_> = (0..sent).map(|_| query("SELECT 1")).collect();
        s.client_sends(&queries).await;
        let mut forwarded = 0;
        let mut rounds = 0;
        while forwarded < sent {
            let up = s.server_reads().await;
            let n = up.iter().filter(|m| m.0 == b'Q').count();
            assert!(n > 0, "{mode:?}: stalled after {forwarded}");
            assert!(n <= 8192, "{mode:?}: {n} queries owed at once");
            forwarded += n;
            rounds += 1;
            let answers: Vec<_> = (0..n)
                .flat_map(|_| [command_complete("SELECT 1"), ready(b'I')])
                .collect();
            s.server_sends(&answers).await;
        }
        assert_eq!(forwarded, sent, "{mode:?}");
        assert!(rounds >= 2, "{mode:?}: everything was taken at once");
        let got = s.client_reads().await;
        assert_eq!(got.iter().filter(|m| m.0 == b'Z').count(), sent, "{mode:?}");
    }
}

/// A batch with neither Sync nor Flush: the server would keep its answers, so pgward asks
/// for them with a Flush of its own before it waits.
#[tokio::test(start_paused = true)]
async fn an_unflushed_batch_gets_a_flush_before_the_client_waits() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let mut s = Scripted::start(mode, READER).await;
        let runs = 4_000;
        let batch: Vec<_> = (0..runs)
            .flat_map(|_| [parse("", "SELECT 1"), bind("", ""), execute("", 0)])
            .collect();
        s.client_sends(&batch).await;
        let up = s.server_reads().await;
        assert!(up.len() < 3 * runs, "{mode:?}: all {} forwarded", up.len());
        assert_eq!(up.last().map(|m| m.0), Some(b'H'), "{mode:?}: {}", up.len());
        // Answered, pgward forwards the rest of the batch.
        let answers: Vec<_> = up
            .iter()
            .filter_map(|m| match m.0 {
                b'P' => Some(parse_complete()),
                b'B' => Some(bind_complete()),
                b'E' => Some(command_complete("SELECT 1")),
                _ => None,
            })
            .collect();
        s.server_sends(&answers).await;
        let rest = s.server_reads().await;
        let total = up.len() + rest.len();
        assert!(
            total >= 3 * runs,
            "{mode:?}: {total} forwarded of {}",
            3 * runs
        );
    }
}

/// A batch that failed with no Sync sent yet: the server skips what follows up to the
/// client's Sync, so pgward keeps reading the client (dropping those messages unsent) until
/// the Sync comes, however many are owed (a driver's pipeline of thousands of rows with an
/// error in the first ones).
#[tokio::test(start_paused = true)]
async fn a_failed_batch_is_read_to_its_sync_whatever_is_owed() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let mut s = Scripted::start(mode, READER).await;
        let rows = 10_000;
        let mut batch = vec![parse("", "SELECT 1")];
        batch.extend((0..rows).flat_map(|_| [bind("", ""), execute("", 0)]));
        s.client_sends(&batch).await;
        let up = s.server_reads().await;
        assert!(up.len() < 2 * rows, "{mode:?}: all forwarded");
        // The first Execute fails: the server answers nothing more until a Sync.
        s.server_sends(&[
            parse_complete(),
            bind_complete(),
            server_error("22012", "division by zero"),
        ])
        .await;
        s.client_sends(&[sync()]).await;
        let up = s.server_reads().await;
        assert_eq!(up.last().map(|m| m.0), Some(b'S'), "{mode:?}: {}", up.len());
        s.server_sends(&[ready(b'I')]).await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "12EZ", "{mode:?}");
    }
}
