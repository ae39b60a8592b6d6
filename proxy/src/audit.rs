//! The audit log: one JSON object per line, per statement, allowed or denied. Records carry the
//! normalized statement (literals replaced by placeholders), never raw SQL or row values.
//! Sessions hand records to a bounded channel; one writer task owns the file.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::mpsc;

#[derive(Debug, Serialize)]
pub struct AuditRecord {
    pub ts: String,
    pub session: u64,
    pub user: String,
    pub role: String,
    pub client: String,
    pub database: String,
    pub application_name: String,
    pub statement: String,
    pub fingerprint: String,
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub masked: Vec<String>,
    pub rows: u64,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Where sessions send records. Cloning is cheap; `None` inside means auditing is off.
#[derive(Clone, Default)]
pub struct AuditSink {
    tx: Option<mpsc::Sender<AuditRecord>>,
}

impl AuditSink {
    pub fn disabled() -> AuditSink {
        AuditSink { tx: None }
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
        Ok(AuditSink { tx: Some(tx) })
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queue a record; waits when the writer is behind (records are never dropped).
    pub async fn record(&self, r: AuditRecord) {
        if let Some(tx) = &self.tx {
            if tx.send(r).await.is_err() {
                tracing::error!("audit writer has stopped; record lost");
            }
        }
    }
}

fn write_loop(mut rx: mpsc::Receiver<AuditRecord>, out: Box<dyn Write + Send>) {
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

fn write_record(out: &mut impl Write, r: &AuditRecord) {
    match serde_json::to_vec(r) {
        Ok(mut line) => {
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode an audit record"),
    }
}
