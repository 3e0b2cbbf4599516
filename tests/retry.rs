//! Retries and timeouts: what is retried, how long fetchpool waits, and that every retry
//! continues from the bytes on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fetchpool::server::{Fault, Reply, Server};

use crate::harness::*;

/// Replies with `fail(n)` for request n while it returns Some, then with the file.
fn flaky(v: Vec<u8>, fail: impl Fn(usize) -> Option<Reply> + Send + Sync + 'static) -> Server {
    let n = Arc::new(AtomicUsize::new(0));
    Server::start(move |req| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        fail(i).unwrap_or_else(|| Reply::file(req, &v, Some("\"x\""), None))
    })
    .unwrap()
}

#[test]
fn retries_continue_from_the_bytes_on_disk() {
    let env = Env::new();
    let v = blob(1, 300_000);
    let c = v.clone();
    let server = flaky(v.clone(), move |i| {
        (i < 2).then(|| {
            Reply::file(&crate::resume_get(), &c, Some("\"x\""), None)
                .fault(Fault::CutAfter(50_000 * (i + 1)))
        })
    });
    env.run(&["--retries", "3", &server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
    let ranges: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.header("range").map(str::to_string))
        .collect();
    assert_eq!(ranges[0], None);
    // The second reply ignores the Range (a whole-file 200, cut at 100 000): fetchpool
    // restarts from zero rather than append, and the third request asks from 100 000.
    assert_eq!(ranges[1].as_deref(), Some("bytes=50000-"));
    assert_eq!(ranges[2].as_deref(), Some("bytes=100000-"));
    assert_eq!(ranges.len(), 3);
}

#[test]
fn retry_after_is_honoured_on_503() {
    let env = Env::new();
    let v = blob(2, 1000);
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = times.clone();
    let n = Arc::new(AtomicUsize::new(0));
    let c = v.clone();
    let server = Server::start(move |req| {
        t.lock().unwrap().push(Instant::now());
        if n.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::status(503).header("Retry-After", "1").body("busy")
        } else {
            Reply::file(req, &c, None, None)
        }
    })
    .unwrap();
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
    let t = times.lock().unwrap();
    assert_eq!(t.len(), 3);
    // Not a speed assertion: a lower bound the server asked for and fetchpool must honour.
    for w in t.windows(2) {
        assert!(
            w[1] - w[0] >= std::time::Duration::from_millis(950),
            "waited {:?}",
            w[1] - w[0]
        );
    }
}

#[test]
fn retryable_statuses_are_retried_until_success() {
    for status in [408, 429, 500, 502, 503, 504] {
        let env = Env::new();
        let v = blob(status as usize, 500);
        let server = flaky(v.clone(), move |i| (i == 0).then(|| Reply::status(status)));
        env.run(&[&server.url("/f")]).code(0);
        assert_file(&env.out().join("f"), &v);
        assert_eq!(server.requests().len(), 2, "status {status}");
    }
}

#[test]
fn other_client_errors_are_not_retried() {
    for status in [400, 401, 403, 410] {
        let env = Env::new();
        let server = Server::start(move |_| Reply::status(status)).unwrap();
        let url = server.url("/f");
        env.run(&[&url])
            .code(1)
            .stderr_has(&format!("{url}: HTTP {status}"));
        assert_eq!(server.requests().len(), 1, "status {status}");
    }
}

#[test]
fn exhausted_retries_name_the_url_and_the_status() {
    let env = Env::new();
    let server = Server::start(|_| Reply::status(503)).unwrap();
    let url = server.url("/f");
    env.run(&["--retries", "2", &url])
        .code(1)
        .stderr_has(&format!("{url}: HTTP 503"));
    assert_eq!(server.requests().len(), 3);
    assert!(env.listing().is_empty(), "{:?}", env.listing());
}

#[test]
fn a_stalled_server_fails_in_bounded_time_and_keeps_the_prefix() {
    let env = Env::new();
    let v = blob(3, 100_000);
    let c = v.clone();
    let server = Server::start(move |_| {
        Reply::status(200)
            .body(c.clone())
            .fault(Fault::StallAfter(30_000))
    })
    .unwrap();
    let url = server.url("/f");
    env.run(&["--timeout", "1", "--retries", "0", &url])
        .code(1)
        .stderr_has(&url)
        .stderr_has("imeout");
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert_eq!(sha(&part), sha(&v[..30_000]));
}

#[test]
fn connection_refused_is_reported_per_url() {
    let env = Env::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/f");
    env.run(&["--retries", "1", &url]).code(1).stderr_has(&url);
    assert!(env.listing().is_empty());
}
