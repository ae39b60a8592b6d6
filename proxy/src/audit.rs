//! The audit log: one JSON object per line, per statement, allowed or denied. Records carry the
//! normalized statement (literals replaced by placeholders), never raw SQL or row values.
//! Sessions hand records to a bounded channel; one writer task owns the file.

use crate::sqlstate;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pgward_policy::Decision;

use tokio::sync::mpsc;

use crate::audit_stamp::{write_hex16, StampCache};
use crate::clients::ClientRegistry;
use crate::metrics::Metrics;

/// Who a session is, shared by all its audit events: its fields as the record's JSON carries
/// them, encoded once per session rather than once per statement.
#[derive(Debug)]
pub struct AuditSession {
    pub session: u64,
    /// `"session":..,"user":..,"role":..,"client":..,"database":..`
    json: Box<str>,
}

impl AuditSession {
    pub fn new(session: u64, user: &str, role: &str, client: &str, database: &str) -> Self {
        let mut json = format!("\"session\":{session}");
        for (key, value) in [
            ("user", user),
            ("role", role),
            ("client", client),
            ("database", database),
        ] {
            json.push_str(",\"");
            json.push_str(key);
            json.push_str("\":");
            json.push_str(&json_string(value));
        }
        AuditSession {
            session,
            json: json.into(),
        }
    }
}

/// A string as a JSON value (quoted and escaped by serde_json).
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// One statement's audit event as a session hands it over: shared parts by reference, so the
/// session's hot path allocates almost nothing; the writer thread formats it.
#[derive(Debug)]
pub struct AuditEvent {
    pub at: SystemTime,
    pub who: Arc<AuditSession>,
    pub application_name: Arc<str>,
    pub decision: Arc<Decision>,
    pub rows: u64,
    pub duration: Duration,
    pub sqlstate: Option<String>,
}

impl AuditEvent {
    /// The JSON line (the contract's fields, in the contract's order). Keys are written as
    /// they are; every value a client or the config chose goes through serde_json's escaping.
    fn write_json(&self, stamps: &mut StampCache, out: &mut impl Write) -> std::io::Result<()> {
        let denial = self.decision.denial();
        out.write_all(b"{\"ts\":\"")?;
        stamps.write(self.at, out)?;
        out.write_all(b"\",")?;
        out.write_all(self.who.json.as_bytes())?;
        out.write_all(b",\"application_name\":")?;
        serde_json::to_writer(&mut *out, &*self.application_name)?;
        out.write_all(b",\"statement\":")?;
        serde_json::to_writer(&mut *out, &*self.decision.normalized)?;
        let decision = match denial {
            Some(_) => "denied",
            None => "allowed",
        };
        out.write_all(b",\"fingerprint\":\"")?;
        write_hex16(self.decision.fingerprint, out)?;
        out.write_all(b"\",\"decision\":\"")?;
        out.write_all(decision.as_bytes())?;
        out.write_all(b"\"")?;
        if let Some(d) = denial {
            out.write_all(b",\"rule\":")?;
            serde_json::to_writer(&mut *out, d.rule)?;
        }
        out.write_all(b",\"masked\":[")?;
        let masked = self
            .decision
            .mask
            .iter()
            .flat_map(|m| m.plans.iter().flat_map(|p| p.masked_names()));
        for (i, name) in masked.enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, name)?;
        }
        out.write_all(b"],\"rows\":")?;
        serde_json::to_writer(&mut *out, &self.rows)?;
        out.write_all(b",\"duration_ms\":")?;
        serde_json::to_writer(&mut *out, &(self.duration.as_secs_f64() * 1000.0))?;
        let sqlstate = self
            .sqlstate
            .as_deref()
            .or(denial.map(|_| sqlstate::INSUFFICIENT_PRIVILEGE));
        if let Some(code) = sqlstate {
            out.write_all(b",\"sqlstate\":")?;
            serde_json::to_writer(&mut *out, code)?;
        }
        out.write_all(b"}\n")
    }
}

/// Where sessions send records. Cloning is cheap; `None` inside means no audit file. Every
/// record is also counted (statements by decision and rule, errors, durations, per client).
#[derive(Clone, Default)]
pub struct AuditSink {
    tx: Option<mpsc::Sender<AuditEvent>>,
    stats: Option<(Arc<Metrics>, Arc<ClientRegistry>)>,
}

impl AuditSink {
    pub fn disabled() -> AuditSink {
        AuditSink::default()
    }

    /// Count every record in `metrics` and per client.
    pub fn with_stats(mut self, metrics: Arc<Metrics>, clients: Arc<ClientRegistry>) -> Self {
        self.stats = Some((metrics, clients));
        self
    }

    /// Open the file (`-` for stdout) and start the writer task.
    pub fn start(file: &Path) -> std::io::Result<AuditSink> {
        let writer: Box<dyn Write + Send> = if file == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)?,
            )
        };
        let (tx, rx) = mpsc::channel(65536);
        std::thread::Builder::new()
            .name("pgward-audit".into())
            .spawn(move || write_loop(rx, writer))?;
        Ok(AuditSink {
            tx: Some(tx),
            stats: None,
        })
    }

    /// Whether sessions should hand over records (to the file, or to be counted).
    pub fn enabled(&self) -> bool {
        self.tx.is_some() || self.stats.is_some()
    }

    /// Queue a record; waits when the writer is behind (records are never dropped).
    pub async fn record(&self, r: AuditEvent) {
        if let Some((metrics, clients)) = &self.stats {
            let rule = r.decision.denial().map(|d| d.rule);
            let sqlstate = r
                .sqlstate
                .as_deref()
                .or(rule.map(|_| sqlstate::INSUFFICIENT_PRIVILEGE));
            metrics.statement(rule, r.duration, sqlstate);
            clients.note_statement(r.who.session);
        }
        if let Some(tx) = &self.tx {
            if tx.send(r).await.is_err() {
                tracing::error!("audit writer has stopped; record lost");
            }
        }
    }
}

fn write_loop(mut rx: mpsc::Receiver<AuditEvent>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let mut stamps = StampCache::default();
    loop {
        // Drain in batches and sleep between them: one wake-up per batch, not per statement,
        // keeps the audit log off the hot path.
        let mut wrote = false;
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    write_record(&mut stamps, &mut out, &r);
                    wrote = true;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        if wrote {
            if let Err(e) = out.flush() {
                tracing::error!(error = %e, "cannot flush the audit log");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn write_record(stamps: &mut StampCache, out: &mut impl Write, r: &AuditEvent) {
    // Straight into the buffered writer: no line allocated per record.
    if let Err(e) = r.write_json(stamps, out) {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
