//! A small harness: a scratch directory per test, the built binary, servers on loopback,
//! content and hash helpers, and assertions that print the whole run when they fail.

#![allow(dead_code)]

pub mod nginx;
pub mod pki;
pub mod socks;
pub mod squid;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use fetchpool::server::{Reply, Request, Server};
use sha2::{Digest, Sha256};

/// A scratch directory and the binary under test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The default output directory of [`Env::run`]: `<scratch>/out`.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The binary with `-d <scratch>/out` and no inherited RUST_LOG.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fetchpool"));
        c.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            // The network settings a developer's shell may carry must not leak into tests.
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .arg("-d")
            .arg(self.out())
            .stdin(Stdio::null());
        c
    }

    /// Run with `args` (after `-d out`) and collect everything.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().expect("spawn fetchpool"))
    }

    /// Start the binary on `url` (output piped) and return once `<out>/<name>.part` holds at
    /// least `min` bytes. A child that exits before that fails the test instead of hanging it.
    pub fn spawn_until_partial(&self, url: &str, name: &str, min: u64) -> std::process::Child {
        let mut child = self
            .cmd()
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fetchpool");
        let part = self.out().join(format!("{name}.part"));
        while std::fs::metadata(&part).map_or(true, |m| m.len() < min) {
            if let Ok(Some(_)) = child.try_wait() {
                panic!(
                    "exited before {min} bytes reached {}\n{}",
                    part.display(),
                    Run::from(child.wait_with_output().unwrap())
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child
    }

    /// Write `text` to a file in the scratch directory and return its path as a string.
    pub fn write(&self, rel: &str, text: &str) -> String {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// Files in the output directory, sorted, leftovers (.part, .meta) included.
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.out())
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// What a run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn nowhere(&self, needle: &str) -> &Run {
        assert!(
            !self.stdout.contains(needle) && !self.stderr.contains(needle),
            "{needle:?} was printed\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Incompressible content, different per seed.
pub fn blob(seed: usize, size: usize) -> Vec<u8> {
    fetchpool::demo::content(seed, size)
}

/// Stop a server the tests started: `signal` (its graceful stop), then a kill if it has not
/// exited within `grace`. Every real-server harness stops its child this way on drop.
pub fn stop_child(child: &mut std::process::Child, signal: i32, grace: std::time::Duration) {
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Wait until `port` on loopback accepts connections; fail with `log()` when `child` exits
/// first or `limit` passes.
pub fn wait_listening(
    port: u16,
    child: &mut std::process::Child,
    name: &str,
    limit: std::time::Duration,
    log: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited ({status}):\n{}", log());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} did not start:\n{}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `data` gzipped, as a server that compresses sends it.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Assert that the file at `path` holds exactly `expected` (compared by hash).
#[track_caller]
pub fn assert_file(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        (got.len(), sha(&got)),
        (expected.len(), sha(expected)),
        "{} differs from the server's file",
        path.display()
    );
}

#[track_caller]
pub fn assert_absent(path: &Path) {
    assert!(!path.exists(), "{} should not exist", path.display());
}

/// A static server: `/name` serves the named content with a strong ETag, honouring Range.
pub fn static_server(files: Vec<(&str, Vec<u8>)>) -> Server {
    let files: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        files
            .into_iter()
            .map(|(n, c)| (format!("/{n}"), c))
            .collect(),
    );
    Server::start(
        move |req: &Request| match files.iter().position(|(n, _)| *n == req.path) {
            Some(i) => {
                let etag = format!("\"v{i}-{}\"", files[i].1.len());
                Reply::file(req, &files[i].1, Some(&etag), None)
            }
            None => Reply::status(404).body("not here"),
        },
    )
    .expect("start server")
}

/// Requests whose path is `path`.
pub fn hits(server: &Server, path: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}
