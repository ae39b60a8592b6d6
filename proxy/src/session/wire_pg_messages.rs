//! The wire model's message loop: one frontend message in, the backend's answer out, as
//! PostgreSQL's `postgres.c` processes it (skipping to Sync after an extended error, COPY
//! sub-protocol, implicit transactions ended by Sync or the end of a simple Query).

use bytes::BytesMut;

use super::{complete, first, message, returns_rows, row_count, row_description, Portal, WirePg};
use crate::protocol::backend;
use crate::protocol::decode::Cursor;

/// What the connection does after a message.
#[derive(PartialEq, Eq, Debug)]
pub enum Next {
    Continue,
    Close,
}

fn exits(text: &str) -> bool {
    matches!(
        first(text).as_str(),
        "COMMIT" | "ROLLBACK" | "END" | "ABORT"
    )
}

fn known(text: &str) -> bool {
    !text.contains(';')
        && matches!(
            first(text).as_str(),
            "SELECT"
                | "WITH"
                | "SHOW"
                | "VALUES"
                | "UPDATE"
                | "DELETE"
                | "INSERT"
                | "BEGIN"
                | "START"
                | "COMMIT"
                | "END"
                | "ROLLBACK"
                | "ABORT"
                | "DECLARE"
                | "FETCH"
                | "MOVE"
                | "CLOSE"
                | "PREPARE"
                | "EXECUTE"
                | "DEALLOCATE"
                | "DISCARD"
                | "COPY"
                | "SET"
                | "RESET"
                | "LISTEN"
                | "UNLISTEN"
        )
}

/// A statement whose rows an Execute pages.
fn pageable(text: &str) -> bool {
    returns_rows(text) && !matches!(first(text).as_str(), "FETCH")
}

impl WirePg {
    /// One frontend message: what the server answers goes to `out`.
    pub fn on_message(&mut self, tag: u8, body: &[u8], out: &mut BytesMut) -> Next {
        self.messages += 1;
        match tag {
            b'P' | b'B' | b'D' | b'E' | b'C' => self.batch_open = true,
            b'S' | b'Q' => self.batch_open = false,
            _ => {}
        }
        if let Some(rows) = self.copy_in {
            return self.in_copy(tag, rows, out);
        }
        if self.skipping && tag != b'S' {
            return match tag {
                b'X' => Next::Close,
                _ => Next::Continue,
            };
        }
        let mut c = Cursor::new(body);
        match tag {
            b'Q' => {
                self.before_answer(out);
                let text = c.cstr().unwrap_or_default().to_string();
                self.simple_query(&text, out);
            }
            b'P' => {
                self.before_answer(out);
                let name = c.cstr().unwrap_or_default().to_string();
                let text = c.cstr().unwrap_or_default().to_string();
                self.parse(name, text, out);
            }
            b'B' => {
                self.before_answer(out);
                let portal = c.cstr().unwrap_or_default().to_string();
                let statement = c.cstr().unwrap_or_default().to_string();
                self.bind(portal, &statement, out);
            }
            b'D' => {
                let kind = c.u8().unwrap_or(b'S');
                let name = c.cstr().unwrap_or_default().to_string();
                self.describe(kind, &name, out);
            }
            b'E' => {
                self.before_answer(out);
                let portal = c.cstr().unwrap_or_default().to_string();
                let max = c.i32().unwrap_or(0);
                self.execute(&portal, max, out);
            }
            b'C' => {
                let kind = c.u8().unwrap_or(b'P');
                let name = c.cstr().unwrap_or_default().to_string();
                match kind {
                    b'S' => self.statements.remove(&name),
                    _ => self.portals.remove(&name).map(|p| p.text),
                };
                message(b'3', &[], out);
            }
            b'S' => {
                self.before_answer(out);
                self.skipping = false;
                if self.block == b'I' && self.implicit {
                    self.end_transaction(true);
                }
                if self.block == b'I' {
                    self.portals.clear();
                }
                backend::ready_for_query(self.block, out);
            }
            b'H' => {}
            b'F' => {
                let _ = self.error("42883", out, false);
                backend::ready_for_query(self.block, out);
            }
            b'd' | b'c' | b'f' => {} // outside COPY: ignored, as PostgreSQL does
            b'X' => return Next::Close,
            _ => {
                let _ = self.error("08P01", out, false);
                return Next::Close;
            }
        }
        Next::Continue
    }

    fn simple_query(&mut self, text: &str, out: &mut BytesMut) {
        let statements: Vec<String> = text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if statements.is_empty() {
            message(b'I', &[], out);
        }
        // PostgreSQL parses the whole string before it runs any of it.
        if !statements.iter().all(|s| known(s)) {
            let _ = self.error("42601", out, false);
            backend::ready_for_query(self.block, out);
            return;
        }
        self.run_simple(statements, out);
    }

    fn run_simple(&mut self, statements: Vec<String>, out: &mut BytesMut) {
        let mut rest = statements.into_iter();
        while let Some(s) = rest.next() {
            if self.run(&s, out, false).is_err() {
                break;
            }
            if self.copy_in.is_some() {
                self.copy_rest = Some(rest.collect());
                return;
            }
        }
        if self.block == b'I' && self.implicit {
            self.end_transaction(true);
        }
        backend::ready_for_query(self.block, out);
    }

    fn in_copy(&mut self, tag: u8, rows: u64, out: &mut BytesMut) -> Next {
        match tag {
            b'd' => self.copy_in = Some(rows + 1),
            b'H' | b'S' => {}
            b'c' => {
                self.copy_in = None;
                if rows > 10 {
                    self.big_pending = Some(format!("COPY of {rows} rows"));
                }
                complete(&format!("COPY {rows}"), out);
                self.after_copy(out);
            }
            _ => {
                self.copy_in = None;
                let simple = self.copy_rest.is_some();
                let _ = self.error("57014", out, !simple);
                if simple {
                    self.copy_rest = None;
                    backend::ready_for_query(self.block, out);
                }
                if tag == b'X' {
                    return Next::Close;
                }
            }
        }
        Next::Continue
    }

    fn after_copy(&mut self, out: &mut BytesMut) {
        if let Some(rest) = self.copy_rest.take() {
            self.run_simple(rest, out);
        }
    }

    fn aborted(&mut self, text: &str, out: &mut BytesMut) -> bool {
        if self.block == b'E' && !exits(text) {
            let _ = self.error("25P02", out, true);
            return true;
        }
        false
    }

    fn parse(&mut self, name: String, text: String, out: &mut BytesMut) {
        if self.aborted(&text, out) {
            return;
        }
        if !name.is_empty() && self.statements.contains_key(&name) {
            let _ = self.error("42P05", out, true);
            return;
        }
        if !known(&text) {
            let _ = self.error("42601", out, true);
            return;
        }
        self.statements.insert(name, text);
        message(b'1', &[], out);
    }

    fn bind(&mut self, portal: String, statement: &str, out: &mut BytesMut) {
        let Some(text) = self.statements.get(statement).cloned() else {
            let _ = self.error("26000", out, true);
            return;
        };
        if self.aborted(&text, out) {
            return;
        }
        if !portal.is_empty() && self.portals.contains_key(&portal) {
            let _ = self.error("42P03", out, true);
            return;
        }
        self.portals.insert(
            portal,
            Portal {
                text,
                rows_left: 0,
                ran: false,
                affected: 0,
            },
        );
        message(b'2', &[], out);
    }

    fn describe(&mut self, kind: u8, name: &str, out: &mut BytesMut) {
        let text = match kind {
            b'S' => self.statements.get(name).cloned(),
            _ => self.portals.get(name).map(|p| p.text.clone()),
        };
        let Some(text) = text else {
            let code = if kind == b'S' { "26000" } else { "34000" };
            let _ = self.error(code, out, true);
            return;
        };
        if self.aborted(&text, out) {
            return;
        }
        if kind == b'S' {
            message(b't', &[0, 0], out);
        }
        if returns_rows(&text) {
            row_description(&text, out);
        } else {
            message(b'n', &[], out);
        }
    }

    fn execute(&mut self, name: &str, max: i32, out: &mut BytesMut) {
        let Some(mut portal) = self.portals.get(name).cloned() else {
            let _ = self.error("34000", out, true);
            return;
        };
        if !portal.ran {
            portal.ran = true;
            if !pageable(&portal.text) {
                self.portals.insert(name.to_string(), portal.clone());
                let _ = self.run(&portal.text, out, true);
                if self.copy_in.is_some() {
                    self.copy_rest = None;
                }
                return;
            }
            // Run it whole (a write writes every row now), then page its rows.
            let mut whole = BytesMut::new();
            if self.run(&portal.text, &mut whole, true).is_err() {
                out.extend_from_slice(&whole);
                return;
            }
            if super::internal_answer(&portal.text, false, out) {
                self.portals.insert(name.to_string(), portal);
                return;
            }
            portal.affected = row_count(&portal.text);
            portal.rows_left = portal.affected;
        }
        let n = match u64::try_from(max) {
            Ok(m) if m > 0 => portal.rows_left.min(m),
            _ => portal.rows_left,
        };
        super::data_rows(n, super::reads_t(&portal.text), out);
        portal.rows_left -= n;
        if portal.rows_left > 0 {
            message(b's', &[], out);
        } else {
            let head = first(&portal.text);
            let tag = match head.as_str() {
                "SELECT" | "WITH" | "SHOW" | "VALUES" => format!("SELECT {n}"),
                "INSERT" => format!("INSERT 0 {}", portal.affected),
                _ => format!("{head} {}", portal.affected),
            };
            complete(&tag, out);
        }
        if self.portals.contains_key(name) {
            self.portals.insert(name.to_string(), portal);
        }
    }
}
