//! A PostgreSQL that speaks the wire protocol, for driving the real session with arbitrary
//! frames (`wire_fuzz.rs`): simple and extended queries, transaction blocks (explicit and
//! implicit), errors that fail a block or skip to Sync, named and unnamed statements and
//! portals, portals paged by Execute's row limit, SQL cursors and prepared statements, COPY
//! both ways and `pg_sleep`. Statements are read by their first words only; the texts come
//! from `wire_fuzz.rs`'s small vocabulary and from pgward itself.
//!
//! It records what a guardrail forbids, as the database would see it: a write that ran,
//! a write of more than [`BIG_WRITE`] rows that committed.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::protocol::backend::{self, PgError};

/// Rows a write of the whole table touches (`WHERE id > 0`); others touch one.
pub const BIG_WRITE: u64 = 40;

/// What the database saw that the test asserts on.
#[derive(Default, Debug)]
pub struct Seen {
    /// Writes that ran (committed or not): the number of the message that ran each
    /// ([`WirePg::messages`] then), and its text.
    pub writes_run: Vec<(u64, String)>,
    /// Transactions that committed a big write.
    pub big_commits: Vec<(u64, String)>,
}

#[derive(Clone)]
struct Portal {
    text: String,
    rows_left: u64,
    ran: bool,
    affected: u64,
}

struct Cursor {
    rows_left: u64,
    from_t: bool,
    hold: bool,
}

/// The server's session state.
pub struct WirePg {
    statements: HashMap<String, String>,
    portals: HashMap<String, Portal>,
    cursors: HashMap<String, Cursor>,
    sql_prepared: HashMap<String, String>,
    /// 'I', 'T' or 'E'.
    block: u8,
    /// An implicit transaction is open (statements ran outside a block).
    implicit: bool,
    /// A big write ran in the open transaction (explicit or implicit).
    big_pending: Option<String>,
    skipping: bool,
    copy_in: Option<u64>,
    /// A simple Query's statements after its COPY FROM STDIN (`None`: an extended COPY).
    copy_rest: Option<Vec<String>>,
    /// The next statement that runs fails (serialization failure).
    pub fail_next: bool,
    /// Answers get a NoticeResponse first.
    pub notice_next: bool,
    /// The next answer reports `default_transaction_read_only` off.
    pub pin_off_next: bool,
    /// A message nothing asked for comes before the next answer (its tag).
    pub junk_next: Option<u8>,
    pub seen: Seen,
    /// Virtual seconds the statement being run sleeps before it answers.
    pub sleep_due: u64,
    /// A statement's answer is still being slept on.
    pub busy: bool,
    /// Messages received from pgward so far.
    pub messages: u64,
    /// Extended-protocol messages came since the last Sync or Query (PostgreSQL holds a
    /// transaction open for them).
    batch_open: bool,
}

impl Default for WirePg {
    fn default() -> WirePg {
        WirePg {
            statements: HashMap::new(),
            portals: HashMap::new(),
            cursors: HashMap::new(),
            sql_prepared: HashMap::new(),
            block: b'I',
            implicit: false,
            big_pending: None,
            skipping: false,
            copy_in: None,
            copy_rest: None,
            fail_next: false,
            notice_next: false,
            pin_off_next: false,
            junk_next: None,
            seen: Seen::default(),
            sleep_due: 0,
            busy: false,
            messages: 0,
            batch_open: false,
        }
    }
}

/// A failure's outcome.
struct Failed;

impl WirePg {
    /// Idle, nothing skipped, no transaction or COPY open: what a server given back must be.
    pub fn idle_and_clean(&self) -> bool {
        self.block == b'I'
            && !self.implicit
            && !self.batch_open
            && self.portals.is_empty()
            && !self.skipping
            && self.copy_in.is_none()
            && !self.busy
    }

    fn error(&mut self, code: &'static str, out: &mut BytesMut, extended: bool) -> Failed {
        backend::error_response(&PgError::error(code, "wire model".to_string()), out);
        if self.block == b'T' {
            self.block = b'E';
        } else if self.block == b'I' {
            self.end_transaction(false);
        }
        self.skipping = extended;
        Failed
    }

    /// The open transaction (explicit or implicit) ends.
    fn end_transaction(&mut self, commit: bool) {
        if commit {
            if let Some(text) = self.big_pending.take() {
                self.seen.big_commits.push((self.messages, text));
            }
        }
        self.big_pending = None;
        self.implicit = false;
        self.block = b'I';
        self.portals.clear();
        self.cursors.retain(|_, c| c.hold && commit);
    }

    fn before_answer(&mut self, out: &mut BytesMut) {
        if std::mem::take(&mut self.notice_next) {
            backend::notice_response(&PgError::error("01000", "wire notice".to_string()), out);
        }
        if std::mem::take(&mut self.pin_off_next) {
            backend::parameter_status("default_transaction_read_only", "off", out);
        }
        match self.junk_next.take() {
            Some(b'Z') => backend::ready_for_query(b'I', out),
            Some(b'E') => {
                backend::error_response(&PgError::error("XX000", "junk".to_string()), out)
            }
            Some(b'A') => message(b'A', b"\0\0\x10\x92chan\0payload\0", out),
            Some(tag) => message(tag, &[], out),
            None => {}
        }
    }

    /// Run one statement: its rows (up to `max` when paged) and its end. `Ok(true)` when the
    /// portal is suspended.
    fn run(&mut self, text: &str, out: &mut BytesMut, extended: bool) -> Result<(), Failed> {
        let w = words(text);
        let head = w.first().map(String::as_str).unwrap_or("");
        let exits = matches!(head, "COMMIT" | "ROLLBACK" | "END" | "ABORT");
        if self.block == b'E' && !exits {
            return Err(self.error("25P02", out, extended));
        }
        if self.block == b'I' && !matches!(head, "BEGIN" | "START") {
            self.implicit = true;
        }
        if std::mem::take(&mut self.fail_next) && !exits {
            return Err(self.error("40001", out, extended));
        }
        if text.to_ascii_uppercase().contains("PG_SLEEP") {
            self.sleep_due += 30;
        }
        match head {
            "BEGIN" | "START" => {
                self.block = b'T';
                self.implicit = false;
                complete("BEGIN", out);
            }
            "COMMIT" | "END" => {
                let failed = self.block == b'E';
                self.end_transaction(!failed);
                complete(if failed { "ROLLBACK" } else { "COMMIT" }, out);
            }
            "ROLLBACK" | "ABORT" => {
                self.end_transaction(false);
                complete("ROLLBACK", out);
            }
            "SELECT" | "WITH" | "SHOW" | "VALUES" => {
                if text.contains("1/0") {
                    return Err(self.error("22012", out, extended));
                }
                if internal_answer(text, true, out) {
                    return Ok(());
                }
                row_description(text, out);
                let n = row_count(text);
                data_rows(n, reads_t(text), out);
                complete(&format!("SELECT {n}"), out);
            }
            "UPDATE" | "DELETE" | "INSERT" => {
                let n = self.write(text);
                if returns_rows(text) {
                    row_description(text, out);
                    data_rows(n, true, out);
                }
                let tag = if head == "INSERT" {
                    format!("INSERT 0 {n}")
                } else {
                    format!("{head} {n}")
                };
                complete(&tag, out);
            }
            "DECLARE" => return self.declare(text, &w, out, extended),
            "FETCH" | "MOVE" => {
                let name = w.last().map(|n| n.to_ascii_lowercase()).unwrap_or_default();
                let Some(c) = self.cursors.get_mut(&name) else {
                    return Err(self.error("34000", out, extended));
                };
                let n = c.rows_left.min(2);
                c.rows_left -= n;
                let from_t = c.from_t;
                if head == "FETCH" {
                    row_description(text, out);
                    data_rows(n, from_t, out);
                }
                complete(&format!("{head} {n}"), out);
            }
            "CLOSE" => {
                let name = w.get(1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
                if name == "all" {
                    self.cursors.clear();
                } else if self.cursors.remove(&name).is_none() {
                    return Err(self.error("34000", out, extended));
                }
                complete("CLOSE CURSOR", out);
            }
            "PREPARE" => {
                let name = w.get(1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
                let body = text
                    .to_ascii_uppercase()
                    .find(" AS ")
                    .map(|at| text[at + 4..].to_string());
                match body {
                    Some(b) if !self.sql_prepared.contains_key(&name) => {
                        self.sql_prepared.insert(name, b);
                        complete("PREPARE", out);
                    }
                    _ => return Err(self.error("42P05", out, extended)),
                }
            }
            "EXECUTE" => {
                let name = w.get(1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
                let Some(body) = self.sql_prepared.get(&name).cloned() else {
                    return Err(self.error("26000", out, extended));
                };
                return self.run(&body, out, extended);
            }
            "DEALLOCATE" => {
                let name = w.last().map(|n| n.to_ascii_lowercase()).unwrap_or_default();
                if name == "all" {
                    self.sql_prepared.clear();
                } else if self.sql_prepared.remove(&name).is_none() {
                    return Err(self.error("26000", out, extended));
                }
                complete("DEALLOCATE", out);
            }
            "DISCARD" => {
                self.sql_prepared.clear();
                self.cursors.clear();
                complete("DISCARD ALL", out);
            }
            "COPY" if is_write(text) => {
                // Rows go in as they come: the write runs from here.
                self.seen.writes_run.push((self.messages, text.to_string()));
                self.copy_in = Some(0);
                message(b'G', &[0, 0, 1, 0, 0], out);
            }
            "COPY" => {
                message(b'H', &[0, 0, 1, 0, 0], out);
                for _ in 0..3 {
                    message(b'd', &[T_VALUE, b'\n'], out);
                }
                message(b'c', &[], out);
                complete("COPY 3", out);
            }
            "SET" | "RESET" | "LISTEN" | "UNLISTEN" => complete(head, out),
            _ => return Err(self.error("42601", out, extended)),
        }
        Ok(())
    }

    fn declare(
        &mut self,
        text: &str,
        w: &[String],
        out: &mut BytesMut,
        extended: bool,
    ) -> Result<(), Failed> {
        let name = w.get(1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
        let upper = text.to_ascii_uppercase();
        let hold = upper.contains("WITH HOLD");
        if self.block != b'T' && !hold {
            return Err(self.error("25P01", out, extended));
        }
        if self.cursors.contains_key(&name) {
            return Err(self.error("42P03", out, extended));
        }
        let query = &text[upper.find(" FOR ").unwrap_or(0)..];
        let rows = row_count(query);
        self.cursors.insert(
            name,
            Cursor {
                from_t: reads_t(query),
                rows_left: rows,
                hold,
            },
        );
        complete("DECLARE CURSOR", out);
        Ok(())
    }

    fn write(&mut self, text: &str) -> u64 {
        let n = row_count(text);
        self.seen.writes_run.push((self.messages, text.to_string()));
        if n > 10 {
            self.big_pending = Some(text.to_string());
        }
        n
    }
}

#[path = "wire_pg_messages.rs"]
pub mod messages;
#[path = "wire_pg_text.rs"]
mod text;
pub use text::T_VALUE;
use text::*;
