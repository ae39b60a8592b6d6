//! The audit log: one JSON object per line, per statement, allowed or denied. Records carry the
//! normalized statement (literals replaced by placeholders), never raw SQL or row values.
//! Sessions hand records to a bounded channel; one writer task owns the file.

use crate::sqlstate;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pgward_policy::Decision;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::clients::ClientRegistry;
use crate::metrics::Metrics;

/// Who a session is, shared by all its audit events.
#[derive(Debug)]
pub struct AuditSession {
    pub session: u64,
    pub user: String,
    pub role: String,
    pub client: String,
    pub database: String,
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

/// The JSON line (the contract's fields).
#[derive(Serialize)]
struct AuditRecord<'a> {
    ts: String,
    session: u64,
    user: &'a str,
    role: &'a str,
    client: &'a str,
    database: &'a str,
    application_name: &'a str,
    statement: &'a str,
    fingerprint: String,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'static str>,
    masked: Vec<&'a str>,
    rows: u64,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqlstate: Option<&'a str>,
}

impl AuditEvent {
    fn record(&self) -> AuditRecord<'_> {
        let denial = self.decision.denial();
        AuditRecord {
            ts: humantime::format_rfc3339_millis(self.at).to_string(),
            session: self.who.session,
            user: &self.who.user,
            role: &self.who.role,
            client: &self.who.client,
            database: &self.who.database,
            application_name: &self.application_name,
            statement: &self.decision.normalized,
            fingerprint: format!("{:016x}", self.decision.fingerprint),
            decision: if denial.is_some() {
                "denied"
            } else {
                "allowed"
            },
            rule: denial.map(|d| d.rule),
            masked: self
                .decision
                .mask
                .iter()
                .flat_map(|m| m.plans.iter().flat_map(|p| p.masked_names()))
                .collect(),
            rows: self.rows,
            duration_ms: self.duration.as_secs_f64() * 1000.0,
            sqlstate: self
                .sqlstate
                .as_deref()
                .or(denial.map(|_| sqlstate::INSUFFICIENT_PRIVILEGE)),
        }
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
    loop {
        // Drain in batches and sleep between them: one wake-up per batch, not per statement,
        // keeps the audit log off the hot path.
        let mut wrote = false;
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    write_record(&mut out, &r);
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

fn write_record(out: &mut impl Write, r: &AuditEvent) {
    // Straight into the buffered writer: no line allocated per record.
    let written = serde_json::to_writer(&mut *out, &r.record())
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}
