//! Interruptions: Ctrl-C keeps partials and exits 130; after `kill -9` mid-transfer the next
//! run resumes from the partial and ends byte-identical.

use std::sync::Arc;

use fetchpool::server::{Reply, Server};

use crate::harness::*;

/// Content with a strong ETag, served at 300 KB/s from the start (long enough to be
/// interrupted) and at full speed to a resume.
fn slow_server(v: Arc<Vec<u8>>) -> Server {
    Server::start(move |req| {
        let rate = req.header("range").is_none().then_some(300_000);
        Reply::file(req, &v, Some("\"s\""), None).rate(rate)
    })
    .unwrap()
}

fn rerun_resumes(env: &Env, server: &Server, v: &[u8]) {
    let before = server.requests().len();
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), v);
    let resume = &server.requests()[before];
    let from: u64 = resume
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .expect("the rerun asks for a range");
    assert!(from >= 100_000, "resumed from {from}");
    assert_eq!(resume.header("if-range"), Some("\"s\""));
}

#[test]
fn sigint_keeps_the_partial_prints_the_summary_and_exits_130() {
    let env = Env::new();
    let v = Arc::new(blob(1, 3_000_000));
    let server = slow_server(v.clone());
    let child = env.spawn_until_partial(&server.url("/f"), "f", 100_000);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = Run::from(child.wait_with_output().unwrap());
    run.code(130)
        .stdout_has("parallel: 0 ok")
        .stderr_has("interrupted");
    assert_absent(&env.out().join("f"));
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert_eq!(
        sha(&part),
        sha(&v[..part.len()]),
        "the partial is a true prefix"
    );
    rerun_resumes(&env, &server, &v);
}

#[test]
fn after_sigkill_a_rerun_resumes_and_ends_byte_identical() {
    let env = Env::new();
    let v = Arc::new(blob(2, 3_000_000));
    let server = slow_server(v.clone());
    let mut child = env.spawn_until_partial(&server.url("/f"), "f", 100_000);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_absent(&env.out().join("f"));
    rerun_resumes(&env, &server, &v);
}
