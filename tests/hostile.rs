//! Hostile servers and hostile input: redirects, credentials, planted links, checksums,
//! overlapping runs, and a long input file full of junk.

use std::sync::Arc;

use fetchpool::server::{Reply, Server};

use crate::harness::*;

#[test]
fn a_redirect_loop_fails_and_writes_nothing() {
    let env = Env::new();
    let server =
        Server::start(|req| Reply::status(302).header("Location", req.path.clone())).unwrap();
    let url = server.url("/loop");
    env.run(&[&url])
        .code(1)
        .stderr_has("redirect refused: more than 10 redirects");
    assert_eq!(server.requests().len(), 11);
    assert!(env.listing().is_empty(), "{:?}", env.listing());
}

#[test]
fn a_redirect_to_file_is_refused_and_writes_nothing() {
    let env = Env::new();
    let server =
        Server::start(|_| Reply::status(301).header("Location", "file:///etc/passwd")).unwrap();
    env.run(&[&server.url("/passwd")])
        .code(1)
        .stderr_has("unsupported scheme \"file\"");
    assert!(env.listing().is_empty(), "{:?}", env.listing());
}

#[test]
fn relative_redirects_are_followed_and_named_after_the_request() {
    let env = Env::new();
    let v = blob(1, 5000);
    let c = v.clone();
    let server = Server::start(move |req| match req.path.as_str() {
        "/a/b/start.bin" => Reply::status(307).header("Location", "../real/data.bin"),
        "/a/real/data.bin" => Reply::file(req, &c, None, None),
        _ => Reply::status(404),
    })
    .unwrap();
    env.run(&[&server.url("/a/b/start.bin")]).code(0);
    assert_file(&env.out().join("start.bin"), &v);
}

#[test]
fn credentials_never_follow_a_redirect_to_another_host() {
    let env = Env::new();
    let v = blob(2, 1000);
    let c = v.clone();
    let other = Server::start(move |req| Reply::file(req, &c, None, None)).unwrap();
    // Same address, other host name and port: another origin as far as the client knows.
    let target = format!("http://localhost:{}/data", other.addr().port());
    let t = target.clone();
    let origin = Server::start(move |_| Reply::status(302).header("Location", t.clone())).unwrap();
    let url = origin
        .url("/start")
        .replace("http://", "http://user:hunter2@");
    env.run(&[
        "-H",
        "Authorization: Bearer sekrit",
        "-H",
        "Cookie: session=42",
        "-H",
        "X-Trace: 7",
        &url,
    ])
    .code(0);
    assert_file(&env.out().join("start"), &v);
    let first = &origin.requests()[0];
    assert_eq!(first.header("authorization"), Some("Bearer sekrit"));
    assert_eq!(first.header("cookie"), Some("session=42"));
    let moved = &other.requests()[0];
    assert_eq!(moved.header("authorization"), None);
    assert_eq!(moved.header("cookie"), None);
    assert_eq!(
        moved.header("x-trace"),
        Some("7"),
        "other headers do follow"
    );
}

#[test]
fn url_passwords_become_basic_auth_and_are_never_printed() {
    let env = Env::new();
    let server = static_server(vec![("f", blob(3, 100))]);
    let good = server.url("/f").replace("http://", "http://user:hunter2@");
    let bad = server
        .url("/missing")
        .replace("http://", "http://user:hunter2@");
    let report = env.path("r.json");
    let run = Run::from(
        env.cmd()
            .env("RUST_LOG", "trace")
            .args(["--json", report.to_str().unwrap(), &good, &bad])
            .output()
            .unwrap(),
    );
    run.code(1).stderr_has("user:***@").nowhere("hunter2");
    // base64("user:hunter2"), as it goes over the wire.
    run.nowhere("dXNlcjpodW50ZXIy");
    let json = std::fs::read_to_string(&report).unwrap();
    assert!(
        !json.contains("hunter2") && json.contains("user:***@"),
        "{json}"
    );
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Basic dXNlcjpodW50ZXIy")
    );
}

#[test]
fn a_symlink_planted_at_the_partial_is_never_followed() {
    let env = Env::new();
    let victim = env.path("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::create_dir_all(env.out()).unwrap();
    std::os::unix::fs::symlink(&victim, env.out().join("f.part")).unwrap();
    let server = static_server(vec![("f", blob(4, 1000))]);
    env.run(&[&server.url("/f")])
        .code(1)
        .stderr_has("refusing to use a temporary that is a symlink");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_absent(&env.out().join("f"));
}

#[test]
fn a_dangling_symlink_at_the_partial_is_never_created_through() {
    let env = Env::new();
    let victim = env.path("created-elsewhere");
    std::fs::create_dir_all(env.out()).unwrap();
    std::os::unix::fs::symlink(&victim, env.out().join("f.part")).unwrap();
    let server = static_server(vec![("f", blob(5, 1000))]);
    env.run(&[&server.url("/f")]).code(1);
    assert_absent(&victim);
}

#[test]
fn a_symlink_planted_at_the_sidecar_is_never_written_through() {
    // Small bodies complete in their first chunk and need no sidecar; large ones must write
    // it before their first byte, and refuse to do so through a link.
    for (size, code) in [(1000, 0), (1_000_000, 1)] {
        let env = Env::new();
        let victim = env.path("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::create_dir_all(env.out()).unwrap();
        std::os::unix::fs::symlink(&victim, env.out().join("f.part.meta")).unwrap();
        let v = blob(6, size);
        let server = static_server(vec![("f", v.clone())]);
        let run = env.run(&[&server.url("/f")]);
        run.code(code);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "size {size}");
        if code == 0 {
            assert_file(&env.out().join("f"), &v);
        } else {
            run.stderr_has("f.part.meta: refusing to use a temporary that is a symlink");
            assert_absent(&env.out().join("f"));
        }
    }
}

#[test]
fn a_checksum_mismatch_leaves_nothing_at_the_final_path() {
    let env = Env::new();
    let server = static_server(vec![("f", blob(7, 4000))]);
    let wrong = format!("sha256={}", "0".repeat(64));
    env.run(&["--checksum", &wrong, &server.url("/f")])
        .code(1)
        .stderr_has("checksum mismatch")
        .stderr_has(&sha(&blob(7, 4000)));
    assert!(env.listing().is_empty(), "{:?}", env.listing());
}

#[test]
fn checksums_from_the_input_file_are_verified() {
    let env = Env::new();
    let (a, b) = (blob(8, 3000), blob(9, 3000));
    let server = static_server(vec![("a", a.clone()), ("b", b.clone())]);
    let input = format!(
        "{} sha256={}\n{} b.bin sha256={}\n",
        server.url("/a"),
        sha(&a).to_uppercase(),
        server.url("/b"),
        sha(&a)
    );
    let file = env.write("in.txt", &input);
    env.run(&["-i", &file])
        .code(1)
        .stderr_has("checksum mismatch");
    assert_file(&env.out().join("a"), &a);
    assert_absent(&env.out().join("b.bin"));
}

#[test]
fn overlapping_runs_never_write_the_same_file() {
    let env = Env::new();
    let v = Arc::new(blob(10, 600_000));
    let c = v.clone();
    // ~1.5 s per download, so the second run starts while the first is mid-transfer.
    let server =
        Server::start(move |req| Reply::file(req, &c, Some("\"o\""), None).rate(Some(400_000)))
            .unwrap();
    let url = server.url("/f");
    let first = env.spawn_until_partial(&url, "f", 1);
    let second = env
        .cmd()
        .env("RUST_LOG", "fetchpool=warn")
        .arg(&url)
        .output()
        .unwrap();
    let first = Run::from(first.wait_with_output().unwrap());
    let second = Run::from(second);
    first.code(0).stdout_has("(downloaded)");
    second
        .code(0)
        .stdout_has("(already complete)")
        .stderr_has("another fetchpool run is writing it");
    assert_file(&env.out().join("f"), &v);
    assert_eq!(
        server.requests().len(),
        1,
        "the second run downloaded nothing"
    );
}

#[test]
fn ten_thousand_lines_with_junk_fail_only_the_junk() {
    let env = Env::new();
    let server =
        Server::start(|req| Reply::status(200).body(req.path.clone().into_bytes())).unwrap();
    let mut input = String::new();
    let mut junk_lines = Vec::new();
    for i in 1..=10_000 {
        match i % 10 {
            3 => {
                input += &format!("junk{i} :: not a url\n");
                junk_lines.push(i);
            }
            7 => input += "# a comment\n",
            9 => input += "   \n",
            _ => input += &format!("{} d{}/f{i}\n", server.url(&format!("/f{i}")), i % 7),
        }
    }
    let file = env.write("jobs.txt", &input);
    let run = env.run(&["-q", "-j", "8", "-i", &file]);
    run.code(1)
        .stdout_has("7000 ok (0 already complete), 1000 failed");
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 1000, "one line per junk line");
    for i in junk_lines {
        assert!(
            run.stderr.contains(&format!("input line {i}: ")),
            "line {i} not named"
        );
    }
    for i in (1..=10_000).filter(|i| ![3, 7, 9].contains(&(i % 10))) {
        assert_file(
            &env.out().join(format!("d{}/f{i}", i % 7)),
            format!("/f{i}").as_bytes(),
        );
    }
}
