//! The server process: start it and wait until it accepts connections, watch it, stop it,
//! start it again on the same data directory and port.

use super::*;

impl LocalPostgres {
    pub(super) fn spawn_and_wait(&mut self) -> Result<(), LocalPgError> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(io_err("opening the server log"))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log.try_clone().map_err(io_err("cloning the log handle"))?;
        let mut cmd = self.server_command("postgres");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .arg("-c")
            .arg(format!("max_connections={}", self.opts.max_connections))
            .args([
                "-c",
                "logging_collector=off",
                "-c",
                "log_min_messages=warning",
            ]);
        if self.opts.ssl.is_some() {
            cmd.args(["-c", "ssl=on"]);
        }
        for (k, v) in &self.opts.settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let child = cmd.spawn().map_err(io_err("starting postgres"))?;
        self.child = Some(child);

        let deadline = Instant::now() + self.opts.ready_timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_status)) = child.try_wait() {
                    self.child = None;
                    return Err(LocalPgError::Exited {
                        log: self.log_since(log_start),
                    });
                }
            }
            if self.ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill_child();
                return Err(LocalPgError::NotReady {
                    seconds: self.opts.ready_timeout.as_secs(),
                    log: self.log_since(log_start),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// If this process dies without running `Drop` (killed test run, SIGKILLed demo), a small
    /// shell loop notices within a second, stops the server and removes the directory. It ends
    /// by itself once the data directory is gone (normal drop).
    pub(super) fn spawn_watchdog(&self) {
        let script = r#"
            while [ -d "/proc/$1" ] && [ -d "$2" ]; do sleep 1; done
            if [ -d "$2" ]; then
              "$3" stop -D "$2" -m immediate -w -t 10 >/dev/null 2>&1
              rm -rf "$4"
            fi
        "#;
        let mut cmd = Command::new("sh");
        if let Some(who) = self.run_as {
            cmd.uid(who.uid).gid(who.gid);
        }
        cmd.arg("-c")
            .arg(script)
            .arg("pgward-local-pg-watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.data_dir)
            .arg(self.bin_dir.join("pg_ctl"))
            .arg(self.base())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Best effort: without it the normal Drop path still cleans up.
        if let Ok(mut child) = cmd.spawn() {
            // Reap it in the background so it never lingers as a zombie.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }

    /// The server answers a startup packet over TCP (an authentication request, not an error).
    fn ready(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, self.port).into(),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
        let mut body = Vec::new();
        body.extend_from_slice(&196608u32.to_be_bytes());
        for (k, v) in [("user", "postgres"), ("database", "postgres")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        if s.write_all(&msg).is_err() {
            return false;
        }
        let mut first = [0u8; 1];
        // 'R' = authentication request; 'E' = error (e.g. "the database system is starting up").
        matches!(s.read_exact(&mut first), Ok(()) if first[0] == b'R')
    }

    fn log_since(&self, offset: u64) -> String {
        let text = fs::read(&self.log_path).unwrap_or_default();
        let start = (offset as usize).min(text.len());
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        self.log_since(0)
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server process is running (as far as we started it).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stop the server (fast shutdown: sessions are terminated). The data stays.
    pub fn stop(&mut self) -> Result<(), LocalPgError> {
        if self.child.is_none() {
            return Ok(());
        }
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30"]);
        let res = run_checked(&mut cmd, "pg_ctl stop");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        res.map(|_| ())
    }

    /// Start the server again after [`stop`](Self::stop): same data directory and same port.
    pub fn start_again(&mut self) -> Result<(), LocalPgError> {
        if self.is_running() {
            return Ok(());
        }
        self.child = None;
        // The port was ours a moment ago; if someone took it meanwhile this fails clearly.
        self.spawn_and_wait()
    }
}
