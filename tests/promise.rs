//! The promise on the servers people really use (hardening): content-coding, length
//! accounting, every validator, temporaries that never collide, one file one entry.
//! Every test checks the final bytes by hash.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fetchpool::server::{Fault, Reply, Request, Server};

use crate::harness::*;

const LEN: usize = 300_000;

/// A server whose n-th request (from 0) is answered by `reply(n, req)`.
fn counted(reply: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> Server {
    let n = Arc::new(AtomicUsize::new(0));
    Server::start(move |req| reply(n.fetch_add(1, Ordering::SeqCst), req)).unwrap()
}

/// A 206 with `body` and Content-Range `first-last/total`.
fn range(first: usize, last: usize, total: &str, body: &[u8]) -> Reply {
    Reply::status(206)
        .header("Content-Range", format!("bytes {first}-{last}/{total}"))
        .body(body.to_vec())
}

fn range_start(req: &Request) -> Option<usize> {
    let r = req.header("range")?;
    r.trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .ok()
}

/// An S3-like store for an object kept gzipped: every reply is gzip, a Range counts the
/// stored (compressed) bytes, If-Range is ignored.
fn gzip_store(stored: Vec<u8>, cut_first: Option<usize>) -> Server {
    counted(move |n, req| {
        let total = stored.len();
        let reply = match range_start(req) {
            Some(first) if first < total => {
                range(first, total - 1, &total.to_string(), &stored[first..])
            }
            _ => Reply::status(200).body(stored.clone()),
        };
        let reply = reply
            .header("Content-Encoding", "gzip")
            .header("ETag", "\"gz1\"");
        match (n, cut_first) {
            (0, Some(cut)) => reply.fault(Fault::CutAfter(cut)),
            _ => reply,
        }
    })
}

#[test]
fn a_cut_gzip_body_is_never_spliced_and_the_rerun_is_exact() {
    let env = Env::new();
    let v = b"a line of text that a store keeps gzipped\n".repeat(20_000);
    let stored = gzip(&v);
    let server = gzip_store(stored.clone(), Some(stored.len() / 2));
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1).stderr_has(&url);
    assert_absent(&env.out().join("f"));
    env.run(&[&url]).code(0).stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
    // An encoded partial is never continued by a Range: the rerun asked for the whole body.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), None);
    assert_eq!(env.listing(), ["f"]);
    // And a third run finds it complete, not stuck.
    env.run(&[&url]).code(0).stdout_has("already complete");
}

#[test]
fn a_cut_gzip_body_is_retried_like_any_other_cut() {
    let env = Env::new();
    let v = b"retry me, I am gzip\n".repeat(30_000);
    let stored = gzip(&v);
    let server = gzip_store(stored.clone(), Some(stored.len() / 3));
    env.run(&[&server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_close_delimited_gzip_body_cut_short_is_an_error_not_a_file() {
    let env = Env::new();
    let v = b"no length, cut gzip\n".repeat(30_000);
    let stored = gzip(&v);
    let cut = stored[..stored.len() / 2].to_vec();
    let server = Server::start(move |_| {
        Reply::status(200)
            .header("Content-Encoding", "gzip")
            .body(cut.clone())
            .fault(Fault::CloseDelimited)
    })
    .unwrap();
    env.run(&["--retries", "1", &server.url("/f")])
        .code(1)
        .stderr_has("cannot decode the gzip body");
    assert_absent(&env.out().join("f"));
    assert_eq!(server.requests().len(), 2, "a cut stream is retried");
}

#[test]
fn a_short_206_with_an_unknown_total_never_ends_the_download() {
    let env = Env::new();
    let v = blob(30, LEN);
    let c = v.clone();
    let server = counted(move |n, req| match (n, range_start(req)) {
        (0, _) => Reply::file(req, &c, None, None).fault(Fault::CutAfter(151_000)),
        // A short piece with an unknown total: the total of the first reply still governs.
        (1, Some(first)) => range(first, 199_999, "*", &c[first..200_000]),
        _ => Reply::file(req, &c, None, None),
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v);
    assert_eq!(
        server.requests()[2].header("range"),
        Some("bytes=200000-"),
        "the rest was asked for"
    );
}

#[test]
fn a_206_longer_than_its_content_range_is_an_error_and_nothing_is_renamed() {
    let env = Env::new();
    let v = blob(31, LEN);
    let c = v.clone();
    let server = counted(move |n, req| match (n, range_start(req)) {
        (0, _) => Reply::file(req, &c, None, None).fault(Fault::CutAfter(100_000)),
        (_, Some(first)) => {
            let mut body = c[first..].to_vec();
            body.extend_from_slice(&[b'X'; 4096]);
            range(first, LEN - 1, &LEN.to_string(), &body).fault(Fault::Chunked)
        }
        _ => Reply::file(req, &c, None, None),
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    env.run(&["--retries", "0", &url])
        .code(1)
        .stderr_has("body longer than the 200000 bytes announced");
    assert_absent(&env.out().join("f"));
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert_eq!(
        sha(&part),
        sha(&v[..part.len()]),
        "the partial is a true prefix"
    );
}

#[test]
fn a_206_whose_length_disagrees_with_its_range_restarts_instead_of_failing_forever() {
    let env = Env::new();
    let v = blob(32, LEN);
    let c = v.clone();
    let server = counted(move |n, req| match (n, range_start(req)) {
        (0, _) => Reply::file(req, &c, None, None).fault(Fault::CutAfter(100_000)),
        // Content-Range says to the end, the body (and so Content-Length) is shorter.
        (_, Some(first)) => range(first, LEN - 1, &LEN.to_string(), &c[first..first + 10]),
        _ => Reply::file(req, &c, None, None),
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    env.run(&["--retries", "0", &url])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
    assert_eq!(server.requests()[2].header("range"), None);
}

#[test]
fn a_206_with_a_new_etag_and_a_changed_last_modified_is_never_spliced() {
    let env = Env::new();
    let v1 = blob(33, LEN);
    let v2 = blob(34, LEN);
    let (c1, c2) = (v1.clone(), v2.clone());
    // An S3-like server (If-Range ignored): first v1 with Last-Modified only, then v2 with
    // an ETag the partial never had and a new Last-Modified.
    let server = counted(move |n, req| match n {
        0 => Reply::file(req, &c1, None, Some("Mon, 01 Jan 2024 00:00:00 GMT"))
            .fault(Fault::CutAfter(100_000)),
        _ => match range_start(req) {
            Some(first) => range(first, LEN - 1, &LEN.to_string(), &c2[first..]),
            None => Reply::status(200).body(c2.clone()),
        }
        .header("ETag", "\"new\"")
        .header("Last-Modified", "Tue, 02 Jan 2024 00:00:00 GMT"),
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
}

#[test]
fn a_416_with_a_new_etag_never_completes_an_old_partial() {
    let env = Env::new();
    let v1 = blob(35, LEN);
    let v2 = blob(36, LEN);
    let (c1, c2) = (v1.clone(), v2.clone());
    let server = counted(move |n, req| match n {
        // The whole of v1 arrives, but the connection drops before the end is confirmed:
        // chunked, cut just before the terminator.
        0 => Reply::file(req, &c1, Some("\"v1\""), None).fault(Fault::ChunkedCutAfter(LEN)),
        _ => match range_start(req) {
            Some(_) => Reply::status(416)
                .header("Content-Range", format!("bytes */{LEN}"))
                .header("ETag", "\"v2\""),
            None => Reply::file(req, &c2, Some("\"v2\""), None),
        },
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    assert_eq!(
        std::fs::metadata(env.out().join("f.part")).unwrap().len(),
        LEN as u64
    );
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("f"), &v2);
}

#[test]
fn a_target_named_like_another_targets_temporary_is_refused_at_planning() {
    let env = Env::new();
    let v = blob(37, 1000);
    let server = static_server(vec![("a", v.clone()), ("b", blob(38, 10))]);
    let list = format!(
        "{} x.bin\n{} x.bin.part.meta\n{} x.bin.part\n",
        server.url("/a"),
        server.url("/b"),
        server.url("/b")
    );
    let input = env.write("list.txt", &list);
    env.run(&["-i", &input])
        .code(1)
        .stderr_has("input line 2:")
        .stderr_has("input line 3:");
    assert_file(&env.out().join("x.bin"), &v);
    assert!(hits(&server, "/b").is_empty());
}

#[test]
fn a_users_file_at_the_sidecar_path_is_never_overwritten_or_deleted() {
    // A file that arrives whole needs no sidecar and leaves it alone; one that needs a
    // sidecar refuses to write over it.
    for (size, code) in [(1000, 0), (1_000_000, 1)] {
        let env = Env::new();
        std::fs::create_dir_all(env.out()).unwrap();
        let notes = env.out().join("x.bin.part.meta");
        std::fs::write(&notes, "my notes").unwrap();
        let v = blob(39, size);
        let server = static_server(vec![("x.bin", v.clone())]);
        let run = env.run(&[&server.url("/x.bin")]);
        run.code(code);
        assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
        if code == 0 {
            assert_file(&env.out().join("x.bin"), &v);
        } else {
            run.stderr_has("x.bin.part.meta exists and was not written by fetchpool");
            assert_absent(&env.out().join("x.bin"));
        }
    }
}

#[test]
fn a_foreign_partial_is_continued_exactly_or_left_untouched() {
    let env = Env::new();
    let v1 = blob(40, LEN);
    let v2 = blob(41, LEN);
    std::fs::create_dir_all(env.out()).unwrap();
    let part = env.out().join("f.part");
    std::fs::write(&part, &v1[..5000]).unwrap();
    let c2 = v2.clone();
    // The server now has another version and says so by ignoring the Range.
    let server = Server::start(move |_| Reply::status(200).body(c2.clone())).unwrap();
    let url = server.url("/f");
    env.run(&[&url])
        .code(1)
        .stderr_has("f.part was not written by fetchpool")
        .stderr_has("--force");
    assert_eq!(std::fs::read(&part).unwrap(), &v1[..5000]);
    env.run(&["--force", &url]).code(0);
    assert_file(&env.out().join("f"), &v2);
}

#[test]
fn a_255_byte_name_downloads_and_resumes() {
    let env = Env::new();
    let name = format!("{}.bin", "n".repeat(251));
    assert_eq!(name.len(), 255);
    let v = blob(42, LEN);
    let c = v.clone();
    let server = counted(move |n, req| {
        let r = Reply::file(req, &c, Some("\"e\""), None);
        if n == 0 {
            r.fault(Fault::CutAfter(100_000))
        } else {
            r
        }
    });
    let list = env.write("list.txt", &format!("{} {name}\n", server.url("/f")));
    env.run(&["--retries", "0", "-i", &list]).code(1);
    env.run(&["-i", &list]).code(0).stdout_has("(resumed)");
    assert_file(&env.out().join(&name), &v);
    assert_eq!(env.listing(), [name]);
}

#[test]
fn one_file_spelled_two_ways_is_one_entry() {
    let env = Env::new();
    std::fs::create_dir_all(env.out().join("real")).unwrap();
    std::os::unix::fs::symlink(env.out().join("real"), env.out().join("link")).unwrap();
    let server = static_server(vec![("a", blob(43, 5000)), ("b", blob(44, 5000))]);
    let (a, b) = (server.url("/a"), server.url("/b"));
    let abs = env.out().join("f1.bin");
    let cases = [
        format!("{a} f1.bin\n{b} {}\n", abs.display()),
        format!("{a} real/f2.bin\n{b} link/f2.bin\n"),
        format!("{a} sub/../f3.bin\n{b} ./f3.bin\n"),
    ];
    for (i, list) in cases.iter().enumerate() {
        let input = env.write(&format!("list{i}.txt"), list);
        env.run(&["-i", &input])
            .code(1)
            .stderr_has("input line 2:")
            .stderr_has("is already used by line 1");
    }
    assert!(
        hits(&server, "/b").is_empty(),
        "the second URL is never requested"
    );
    assert_file(&env.out().join("f1.bin"), &blob(43, 5000));
    assert_file(&env.out().join("real/f2.bin"), &blob(43, 5000));
    assert_file(&env.out().join("f3.bin"), &blob(43, 5000));
}

// Secrets never printed.

#[test]
fn trace_logs_never_show_credentials_or_tokens() {
    let env = Env::new();
    let server = static_server(vec![("f", blob(45, 200_000))]);
    let url = server
        .url("/f")
        .replace("http://", "http://alice:PASSWORD7@");
    let run = Run::from(
        env.cmd()
            .env("RUST_LOG", "trace")
            .args([
                "-H",
                "Authorization: Bearer TOKEN7",
                "-H",
                "Cookie: sid=COOKIE7",
                &url,
            ])
            .output()
            .unwrap(),
    );
    run.code(0);
    // The Basic token of alice:PASSWORD7, and the secrets themselves.
    for secret in ["PASSWORD7", "TOKEN7", "COOKIE7", "YWxpY2U6UEFTU1dPUkQ3"] {
        run.nowhere(secret);
    }
    // The hex dump of the wire is what leaked; make sure logging itself was on.
    run.stderr_has("DEBUG");
}

#[test]
fn usage_errors_never_echo_credentials() {
    let env = Env::new();
    env.run(&["-j", "http://u:SECRET8@h/x"])
        .code(2)
        .stderr_has("--jobs")
        .nowhere("SECRET8");
    env.run(&["-H", "Authorization Bearer TOKEN8", "http://h/x"])
        .code(2)
        .stderr_has("Authorization")
        .nowhere("TOKEN8");
}

#[test]
fn a_token_given_as_a_user_name_is_never_printed() {
    let env = Env::new();
    let json = env.path("r.json");
    env.run(&[
        "--retries",
        "0",
        "--json",
        json.to_str().unwrap(),
        "http://TOKEN9@127.0.0.1:1/file",
    ])
    .code(1)
    .stderr_has("127.0.0.1:1/file")
    .nowhere("TOKEN9");
    assert!(!std::fs::read_to_string(&json).unwrap().contains("TOKEN9"));
}

// Signals and pipes.

/// Run the binary through `sh` with `redirect` applied (e.g. `>&-` to close stdout).
fn run_redirected(env: &Env, redirect: &str, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec \"$0\" \"$@\" {redirect}"))
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .arg("-d")
        .arg(env.out())
        .args(args)
        .env_remove("RUST_LOG");
    Run::from(cmd.output().unwrap())
}

#[test]
fn a_closed_stdout_or_stderr_never_turns_the_exit_status_into_a_panic() {
    let env = Env::new();
    run_redirected(&env, ">&-", &["--dry-run", "http://h/x"]).code(0);
    let file = env.write("not-a-dir", "x");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&-")
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .args(["-d", &file, "http://h/x"]);
    Run::from(cmd.output().unwrap()).code(2);
}

#[test]
fn the_first_ctrl_c_ends_a_run_that_waits_on_another_runs_lock() {
    let env = Env::new();
    let v = Arc::new(blob(46, 3_000_000));
    let c = v.clone();
    let server =
        Server::start(move |req| Reply::file(req, &c, Some("\"s\""), None).rate(Some(200_000)))
            .unwrap();
    let url = server.url("/f");
    let mut first = env.spawn_until_partial(&url, "f", 50_000);
    let mut second = env
        .cmd()
        .env("RUST_LOG", "warn")
        .arg(&url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the second run says it is waiting for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut err = second.stderr.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("waiting") {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut err, &mut buf).unwrap();
        assert!(
            n > 0 && std::time::Instant::now() < deadline,
            "no wait message"
        );
        seen.extend_from_slice(&buf[..n]);
    }
    unsafe { libc::kill(second.id() as i32, libc::SIGINT) };
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "one Ctrl-C did not end the wait"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    first.kill().unwrap();
    first.wait().unwrap();
    // The partial is the first run's true prefix, untouched by the second.
    let part = std::fs::read(env.out().join("f.part")).unwrap();
    assert_eq!(sha(&part), sha(&v[..part.len()]));
}

// Errors people can act on.

#[test]
fn file_errors_name_the_url_and_the_path() {
    let env = Env::new();
    std::fs::create_dir_all(env.out().join("f.part")).unwrap();
    let server = static_server(vec![("f", blob(47, 1000))]);
    let url = server.url("/f");
    env.run(&[&url]).code(1).stderr_has(&format!(
        "error: {url}: {}",
        env.out().join("f.part").display()
    ));
}

#[test]
fn an_output_directory_that_cannot_be_written_is_one_fatal_error() {
    let env = Env::new();
    // As root, permission bits do not stop writes: use a directory no one can write into.
    let dir = if unsafe { libc::geteuid() } == 0 {
        std::path::PathBuf::from("/proc")
    } else {
        let d = env.path("ro");
        std::fs::create_dir(&d).unwrap();
        let ro = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o555);
        std::fs::set_permissions(&d, ro).unwrap();
        d
    };
    let server = static_server(vec![("a", blob(48, 10)), ("b", blob(49, 10))]);
    let run = Run::from(
        std::process::Command::new(env!("CARGO_BIN_EXE_fetchpool"))
            .arg("-d")
            .arg(&dir)
            .args([server.url("/a"), server.url("/b")])
            .output()
            .unwrap(),
    );
    run.code(2).stderr_has(&format!(
        "output directory {} is not writable",
        dir.display()
    ));
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(server.requests().is_empty());
}

#[test]
fn no_cause_is_printed_twice() {
    let env = Env::new();
    let file = env.write("plain-file", "x");
    let run = Run::from(
        std::process::Command::new(env!("CARGO_BIN_EXE_fetchpool"))
            .args(["-d", &file, "http://h/x"])
            .output()
            .unwrap(),
    );
    run.code(2);
    assert_eq!(run.stderr.matches("not a directory").count(), 1, "{run}");
}

#[test]
fn an_unknown_host_is_not_retried() {
    let env = Env::new();
    let run = Run::from(
        env.cmd()
            .env("RUST_LOG", "fetchpool=debug")
            .arg("http://no-such-host.invalid/x")
            .output()
            .unwrap(),
    );
    run.code(1).stderr_has("no-such-host.invalid");
    assert_eq!(
        run.stderr
            .matches("GET http://no-such-host.invalid/x")
            .count(),
        1,
        "{run}"
    );
}

#[test]
fn the_summary_tells_sizes_in_place_from_bytes_received() {
    let env = Env::new();
    let v = blob(50, LEN);
    let c = v.clone();
    let server = counted(move |n, req| {
        let r = Reply::file(req, &c, Some("\"e\""), None);
        if n == 0 {
            r.fault(Fault::CutAfter(100_000))
        } else {
            r
        }
    });
    let url = server.url("/f");
    env.run(&["--retries", "0", &url]).code(1);
    env.run(&[&url])
        .code(0)
        .stdout_has("293.0 KiB in place, 195.3 KiB received");
    assert_file(&env.out().join("f"), &v);
}
