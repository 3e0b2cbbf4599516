//! The resume protocol against servers that behave and servers that do not. Every test ends
//! by comparing the final file's hash with the version the server holds at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fetchpool::server::{Fault, Reply, Request, Server};

use crate::harness::*;

const LEN: usize = 200_000;
const CUT: usize = 70_000;

/// A server whose first request is cut after CUT bytes; later requests get `later`.
fn cut_then(first: Reply, later: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
    let n = Arc::new(AtomicUsize::new(0));
    Server::start(move |req| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            first.clone().fault(Fault::CutAfter(CUT))
        } else {
            later(req)
        }
    })
    .unwrap()
}

/// A `.part` as another tool would leave it: no sidecar.
fn plant(env: &Env, name: &str, data: &[u8]) {
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join(format!("{name}.part")), data).unwrap();
}

/// Make the planted `f.part` an earlier fetchpool run's: its sidecar, with no validators.
fn ours(env: &Env, server: &Server) {
    let meta = format!(
        "fetchpool-partial 1\nurl {}\nresumable true\nend\n",
        server.url("/f")
    );
    std::fs::write(env.out().join("f.part.meta"), meta).unwrap();
}

/// First run: cut, no retries. Checks that the failure leaves a true prefix and no final file.
fn first_run_is_cut(env: &Env, url: &str, v1: &[u8]) {
    env.run(&["--retries", "0", url]).code(1).stderr_has(url);
    assert_absent(&env.out().join("f"));
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert_eq!(part.len(), CUT, "the bytes received stay on disk");
    assert_eq!(sha(&part), sha(&v1[..CUT]), "the partial is a true prefix");
}

#[test]
fn resume_uses_range_and_strong_etag_if_range() {
    let env = Env::new();
    let v1 = blob(1, LEN);
    let c = v1.clone();
    let server = cut_then(Reply::file(&get(), &v1, Some("\"e1\""), None), move |req| {
        Reply::file(req, &c, Some("\"e1\""), None)
    });
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0).stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v1);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.header("range"), Some(&*format!("bytes={CUT}-")));
    assert_eq!(last.header("if-range"), Some("\"e1\""));
    assert_eq!(env.listing(), ["f"], "sidecar and partial are gone");
}

#[test]
fn resume_of_a_foreign_partial_sends_range_without_if_range() {
    let env = Env::new();
    let v = blob(2, LEN);
    plant(&env, "f", &v[..1234]);
    let server = static_server(vec![("f", v.clone())]);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    let req = &server.requests()[0];
    assert_eq!(req.header("range"), Some("bytes=1234-"));
    assert_eq!(req.header("if-range"), None);
}

#[test]
fn etag_changed_between_runs_gives_the_new_version() {
    let env = Env::new();
    let (v1, v2) = (blob(3, LEN), blob(4, LEN + 10));
    let c = v2.clone();
    let server = cut_then(Reply::file(&get(), &v1, Some("\"e1\""), None), move |req| {
        Reply::file(req, &c, Some("\"e2\""), None)
    });
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0).stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v2);
}

/// Later replies: v2 as a 206 from wherever the client asked, whatever its If-Range says
/// (a server that ignores If-Range); a full 200 when no Range is asked.
fn ignores_if_range(
    v2: Vec<u8>,
    etag: Option<&'static str>,
    lm: Option<&'static str>,
) -> impl Fn(&Request) -> Reply {
    move |req| {
        let mut plain = req.clone();
        plain.headers.retain(|(n, _)| n != "if-range");
        Reply::file(&plain, &v2, etag, lm)
    }
}

#[test]
fn changed_etag_on_a_206_restarts_instead_of_splicing() {
    let env = Env::new();
    let (v1, v2) = (blob(5, LEN), blob(6, LEN));
    let server = cut_then(
        Reply::file(&get(), &v1, Some("\"e1\""), None),
        ignores_if_range(v2.clone(), Some("\"e2\""), None),
    );
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
}

#[test]
fn changed_last_modified_without_etag_restarts() {
    let env = Env::new();
    let (v1, v2) = (blob(7, LEN), blob(8, LEN));
    let (lm1, lm2) = (
        "Mon, 02 Jan 2006 15:04:05 GMT",
        "Tue, 03 Jan 2006 15:04:05 GMT",
    );
    let server = cut_then(
        Reply::file(&get(), &v1, None, Some(lm1)),
        ignores_if_range(v2.clone(), None, Some(lm2)),
    );
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
    let resume = &server.requests()[1];
    assert_eq!(
        resume.header("if-range"),
        Some(lm1),
        "Last-Modified is the fallback validator"
    );
}

#[test]
fn weak_etag_is_never_sent_as_if_range_and_its_change_restarts() {
    let env = Env::new();
    let (v1, v2) = (blob(9, LEN), blob(10, LEN));
    let server = cut_then(
        Reply::file(&get(), &v1, Some("W/\"1\""), None),
        ignores_if_range(v2.clone(), Some("W/\"2\""), None),
    );
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("if-range").is_none())
    );
}

#[test]
fn changed_length_without_validators_restarts() {
    let env = Env::new();
    let (v1, v2) = (blob(11, LEN), blob(12, LEN + 999));
    let server = cut_then(
        Reply::file(&get(), &v1, None, None),
        ignores_if_range(v2.clone(), None, None),
    );
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
}

#[test]
fn a_200_to_a_range_request_restarts_and_never_appends() {
    let env = Env::new();
    let v = blob(13, LEN);
    plant(&env, "f", &v[..5000]);
    let c = v.clone();
    let server = Server::start(move |_| Reply::status(200).body(c.clone())).unwrap();
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
    assert_eq!(server.requests()[0].header("range"), Some("bytes=5000-"));
}

/// A 206 carrying `v` from byte `start` to its end, with a correct Content-Range.
fn tail_206(v: &[u8], start: usize) -> Reply {
    Reply::status(206)
        .header(
            "Content-Range",
            format!("bytes {start}-{}/{}", v.len() - 1, v.len()),
        )
        .body(&v[start..])
}

/// Later replies are 206s built by `make(first, total)`; no-Range requests get the file.
fn partial_reply(
    v: Vec<u8>,
    make: impl Fn(usize, &[u8]) -> Reply + Send + Sync + 'static,
) -> Server {
    Server::start(move |req| match req.header("range") {
        Some(r) => {
            let first: usize = r
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap();
            make(first, &v)
        }
        None => Reply::file(req, &v, None, None),
    })
    .unwrap()
}

#[test]
fn a_206_that_starts_early_has_its_overlap_skipped() {
    let env = Env::new();
    let v = blob(14, LEN);
    plant(&env, "f", &v[..9000]);
    let server = partial_reply(v.clone(), |first, v| {
        let start = first - 1000;
        tail_206(v, start)
    });
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_206_that_starts_late_restarts() {
    let env = Env::new();
    let v = blob(15, LEN);
    plant(&env, "f", &v[..9000]);
    let server = partial_reply(v.clone(), |first, v| {
        let start = first + 100;
        tail_206(v, start)
    });
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_206_with_a_different_total_restarts() {
    let env = Env::new();
    let v1 = blob(16, LEN);
    let c = v1.clone();
    // First run records total = LEN; then the 206 claims another total.
    let server = cut_then(Reply::file(&get(), &v1, None, None), move |req| {
        if req.header("range").is_some() {
            Reply::status(206)
                .header(
                    "Content-Range",
                    format!("bytes {CUT}-{}/{}", LEN - 1, LEN + 1),
                )
                .body(&c[CUT..])
        } else {
            Reply::file(req, &c, None, None)
        }
    });
    let url = server.url("/f");
    first_run_is_cut(&env, &url, &v1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v1);
}

#[test]
fn a_206_without_content_range_writes_nothing_and_restarts() {
    let env = Env::new();
    let v = blob(17, LEN);
    plant(&env, "f", &v[..9000]);
    let server = partial_reply(v.clone(), |_, _| {
        Reply::status(206).body(b"garbage".to_vec())
    });
    ours(&env, &server);
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_416_for_a_complete_partial_finishes_without_writing_its_body() {
    let env = Env::new();
    let v = blob(18, LEN);
    plant(&env, "f", &v);
    let total = v.len();
    let server = Server::start(move |_| {
        Reply::status(416)
            .header("Content-Range", format!("bytes */{total}"))
            .header("Content-Type", "text/html")
            .body(b"<html><body>416 Requested Range Not Satisfiable</body></html>".to_vec())
    })
    .unwrap();
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_partial_longer_than_the_remote_restarts() {
    let env = Env::new();
    let v = blob(19, LEN);
    let mut long = v.clone();
    long.extend_from_slice(b"stale tail from another version");
    plant(&env, "f", &long);
    let server = static_server(vec![("f", v.clone())]);
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_416_without_a_usable_total_restarts() {
    let env = Env::new();
    let v = blob(20, LEN);
    plant(&env, "f", &v[..LEN / 2]);
    let c = v.clone();
    let server = Server::start(move |req| match req.header("range") {
        Some(_) => Reply::status(416).body(b"<html>no</html>".to_vec()),
        None => Reply::file(req, &c, None, None),
    })
    .unwrap();
    ours(&env, &server);
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn downloads_ask_for_identity_so_gzip_never_touches_a_resume() {
    let env = Env::new();
    let v: Vec<u8> = b"compressible text ".repeat(20_000);
    plant(&env, "f", &v[..12_345]);
    let c = v.clone();
    let server = Server::start(move |req| {
        let wants_gzip = req
            .header("accept-encoding")
            .is_some_and(|a| a.contains("gzip"));
        if wants_gzip {
            Reply::status(200)
                .header("Content-Encoding", "gzip")
                .body(gzip(&c))
        } else {
            Reply::file(req, &c, Some("\"t\""), None)
        }
    })
    .unwrap();
    ours(&env, &server);
    env.run(&[&server.url("/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    assert_eq!(
        server.requests()[0].header("accept-encoding"),
        Some("identity")
    );
}

#[test]
fn gzip_sent_anyway_is_decoded_and_never_resumed_by_range() {
    let env = Env::new();
    let v: Vec<u8> = b"text that a rude server gzips ".repeat(10_000);
    let c = v.clone();
    let server = Server::start(move |_| {
        Reply::status(200)
            .header("Content-Encoding", "gzip")
            .body(gzip(&c))
    })
    .unwrap();
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_206_with_a_content_encoding_is_rejected_and_restarted() {
    let env = Env::new();
    let v = blob(21, LEN);
    plant(&env, "f", &v[..1000]);
    let server = partial_reply(v.clone(), |first, v| {
        Reply::status(206)
            .header("Content-Encoding", "gzip")
            .header(
                "Content-Range",
                format!("bytes {first}-{}/{}", v.len() - 1, v.len()),
            )
            .body(gzip(&v[first..]))
    });
    ours(&env, &server);
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_cut_chunked_body_is_an_error_and_keeps_a_true_prefix() {
    let env = Env::new();
    let v = blob(22, LEN);
    let c = v.clone();
    let server = Server::start(move |_| {
        Reply::status(200)
            .body(c.clone())
            .fault(Fault::ChunkedCutAfter(CUT))
    })
    .unwrap();
    env.run(&["--retries", "0", &server.url("/f")]).code(1);
    assert_absent(&env.out().join("f"));
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert!(!part.is_empty() && part.len() <= CUT);
    assert_eq!(sha(&part), sha(&v[..part.len()]));
}

#[test]
fn a_complete_chunked_body_is_accepted() {
    let env = Env::new();
    let v = blob(23, LEN);
    let c = v.clone();
    let server =
        Server::start(move |_| Reply::status(200).body(c.clone()).fault(Fault::Chunked)).unwrap();
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

/// A bare GET, for building replies outside a handler.
pub fn get() -> Request {
    Request {
        method: "GET".into(),
        path: "/f".into(),
        headers: Vec::new(),
    }
}
