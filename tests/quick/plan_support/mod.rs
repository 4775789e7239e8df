//! Helpers for tests that drive single plan steps through a real `LocalHost`: a run context
//! on a temp workspace (libvirt's in-memory test driver for the connection the context
//! holds), the runner's check → apply → check sequence, and a small HTTP/1.1 server on
//! 127.0.0.1 that honours `Range` requests and logs every request it gets.
#![allow(dead_code)]

use labwarp::host::{Host, LocalHost};
use labwarp::lab::Lab;
use labwarp::plan::{Check, Ctx, Facts, Step};
use labwarp::run::event::Event;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub struct StepEnv {
    pub dir: tempfile::TempDir,
    pub ctx: Arc<Ctx>,
    pub rx: mpsc::UnboundedReceiver<Event>,
}

/// A context whose hypervisor is this machine (a real `LocalHost`).
pub async fn env(lab: Lab) -> StepEnv {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tx, rx) = mpsc::unbounded_channel();
    let host: Arc<dyn Host> = Arc::new(LocalHost::named("virthost"));
    let facts = Facts::decide(&lab, dir.path());
    let ctx = Arc::new(Ctx {
        lab,
        facts,
        workspace: dir.path().to_path_buf(),
        virthost: host.clone(),
        undercloud: host,
        libvirt: labwarp::virt::Libvirt::connect("test:///default")
            .await
            .expect("test:///default"),
        events: tx,
        store: Arc::new(
            labwarp::run::state::StateStore::open(dir.path().join("state.yaml"))
                .expect("state store"),
        ),
        allow_restart: Default::default(),
    });
    StepEnv { dir, ctx, rx }
}

impl StepEnv {
    pub async fn check(&self, step: &dyn Step) -> Check {
        step.check(&self.ctx.step("test", step.id()))
            .await
            .expect("check")
    }

    /// What the runner does: check; when not done, apply and check again (which must say
    /// done). Returns the first check.
    pub async fn run(&self, step: &dyn Step) -> anyhow::Result<Check> {
        let sc = self.ctx.step("test", step.id());
        let before = step.check(&sc).await?;
        if before.done {
            return Ok(before);
        }
        step.apply(&sc).await?;
        let after = step.check(&sc).await?;
        anyhow::ensure!(after.done, "applied, but the check says: {}", after.saw);
        Ok(before)
    }

    pub async fn undo(&self, step: &dyn Step) -> anyhow::Result<()> {
        step.undo(&self.ctx.step("test", step.id())).await
    }

    /// Every log line emitted so far.
    pub fn log(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            if let Event::Log { line, .. } = e {
                v.push(line);
            }
        }
        v
    }
}

/// One request the server got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// The `Range` header, verbatim.
    pub range: Option<String>,
    /// Status sent back.
    pub status: u16,
}

/// Files served by path; each served with `Range` support (`bytes=N-` and `bytes=N-M`).
pub struct HttpServer {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Request>>>,
    /// While set, every `Range` request is answered 503 (a mirror that fails mid-download).
    pub refuse_ranges: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpServer {
    /// `cut_first`: the first full (non-Range) response for `path` sends only that many
    /// bytes of the body and closes the connection: a transfer broken off midway.
    pub async fn start(files: Vec<(String, Vec<u8>)>, cut_first: Option<(String, usize)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let files = Arc::new(files);
        let cut = Arc::new(Mutex::new(cut_first));
        let refuse_ranges = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refuse2 = refuse_ranges.clone();
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (files, log, cut) = (files.clone(), log2.clone(), cut.clone());
                let refuse = refuse2.load(std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = head.lines();
                    let path = lines
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("/")
                        .to_string();
                    let range = lines.find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("range")
                            .then(|| v.trim().to_string())
                    });
                    let body = files.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
                    let (status, headers, payload): (u16, String, Vec<u8>) = match body {
                        Some(_) if refuse && range.is_some() => {
                            (503, "Content-Length: 0\r\n".into(), Vec::new())
                        }
                        None => (404, "Content-Length: 0\r\n".into(), Vec::new()),
                        Some(b) => match range.as_deref().and_then(parse_range) {
                            None => (
                                200,
                                format!("Content-Length: {}\r\nAccept-Ranges: bytes\r\n", b.len()),
                                b.clone(),
                            ),
                            Some((start, _)) if start >= b.len() => (
                                416,
                                format!(
                                    "Content-Range: bytes */{}\r\nContent-Length: 0\r\n",
                                    b.len()
                                ),
                                Vec::new(),
                            ),
                            Some((start, end)) => {
                                let end = end.unwrap_or(b.len() - 1).min(b.len() - 1);
                                (
                                    206,
                                    format!(
                                        "Content-Range: bytes {start}-{end}/{}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
                                        b.len(),
                                        end + 1 - start
                                    ),
                                    b[start..=end].to_vec(),
                                )
                            }
                        },
                    };
                    log.lock().unwrap().push(Request {
                        path: path.clone(),
                        range: range.clone(),
                        status,
                    });
                    let reason = match status {
                        200 => "OK",
                        206 => "Partial Content",
                        404 => "Not Found",
                        503 => "Service Unavailable",
                        _ => "Range Not Satisfiable",
                    };
                    let mut send = payload.as_slice();
                    if status == 200 {
                        let mut c = cut.lock().unwrap();
                        if c.as_ref().is_some_and(|(p, _)| *p == path) {
                            let (_, n) = c.take().unwrap();
                            send = &payload[..n];
                        }
                    }
                    let _ = sock
                        .write_all(
                            format!(
                                "HTTP/1.1 {status} {reason}\r\n{headers}Connection: close\r\n\r\n"
                            )
                            .as_bytes(),
                        )
                        .await;
                    let _ = sock.write_all(send).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        HttpServer {
            port,
            log,
            refuse_ranges,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

/// `bytes=N-` or `bytes=N-M`.
fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let r = v.strip_prefix("bytes=")?;
    let (a, b) = r.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()))
}

/// md5 of bytes, by the system's md5sum (what the step itself uses on the host).
pub fn md5(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Deterministic, incompressible-looking test content.
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed as u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}
