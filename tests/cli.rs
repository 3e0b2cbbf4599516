//! The command line against the in-process server: modes, naming, reruns, bad input, reports.

use crate::harness::*;

fn eight() -> (Vec<(String, Vec<u8>)>, fetchpool::server::Server) {
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("f{i}.bin"), blob(i, 50_000 + i * 1000)))
        .collect();
    let server = static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect());
    (files, server)
}

fn urls(server: &fetchpool::server::Server, files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(n, _)| server.url(&format!("/{n}")))
        .collect()
}

#[test]
fn parallel_downloads_every_file_byte_identical() {
    let env = Env::new();
    let (files, server) = eight();
    let urls = urls(&server, &files);
    let mut args = vec!["-j", "4"];
    args.extend(urls.iter().map(String::as_str));
    let run = env.run(&args);
    run.code(0)
        .stdout_has("8 ok (0 already complete), 0 failed");
    for (name, content) in &files {
        assert_file(&env.out().join(name), content);
    }
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.contains("(downloaded)"))
            .count(),
        8
    );
    // Nothing but the files: no partials or sidecars left behind.
    assert_eq!(env.listing().len(), 8, "{:?}", env.listing());
}

#[test]
fn serial_mode_downloads_in_input_order() {
    let env = Env::new();
    let (files, server) = eight();
    let urls = urls(&server, &files);
    let mut args = vec!["--mode", "serial"];
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(0).stdout_has("serial: 8 ok");
    let order: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    let expected: Vec<String> = files.iter().map(|(n, _)| format!("/{n}")).collect();
    assert_eq!(order, expected);
    for (name, content) in &files {
        assert_file(&env.out().join(name), content);
    }
}

#[test]
fn compare_runs_two_full_downloads_and_prints_a_table() {
    let env = Env::new();
    let (files, server) = eight();
    let urls = urls(&server, &files);
    let mut args = vec!["--mode", "compare", "-j", "4"];
    args.extend(urls.iter().map(String::as_str));
    // A previous run must not turn either phase into a no-op.
    env.run(&args[2..]).code(0);
    let before = server.requests().len();
    let run = env.run(&args);
    run.code(0)
        .stdout_has("speedup")
        .stdout_has("serial ")
        .stdout_has("parallel ");
    assert_eq!(
        server.requests().len() - before,
        16,
        "each phase downloads every file"
    );
    let table: Vec<&str> = run.stdout.lines().filter(|l| l.ends_with('x')).collect();
    assert_eq!(table.len(), 2, "{run}");
    assert!(
        table[0].starts_with("serial") && table[0].contains(" 8 "),
        "{run}"
    );
    assert!(
        table[1].starts_with("parallel") && table[1].contains(" 4 "),
        "{run}"
    );
    for (name, content) in &files {
        assert_file(&env.out().join(name), content);
    }
}

#[test]
fn rerun_reports_already_complete_without_requests() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(1, 1000))]);
    let url = server.url("/a");
    env.run(&[&url]).code(0);
    let before = server.requests().len();
    env.run(&[&url])
        .code(0)
        .stdout_has("(already complete)")
        .stdout_has("1 ok (1 already complete)");
    assert_eq!(server.requests().len(), before);
}

#[test]
fn force_downloads_an_existing_file_again() {
    let env = Env::new();
    let content = blob(2, 3000);
    let server = static_server(vec![("a", content.clone())]);
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join("a"), b"stale").unwrap();
    env.run(&["--force", &server.url("/a")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("a"), &content);
}

#[test]
fn not_found_fails_once_naming_url_and_status() {
    let env = Env::new();
    let server = static_server(vec![]);
    let url = server.url("/missing.bin");
    env.run(&[&url])
        .code(1)
        .stderr_has(&format!("{url}: HTTP 404"));
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
    assert_absent(&env.out().join("missing.bin"));
}

#[test]
fn one_bad_url_does_not_stop_the_others() {
    let env = Env::new();
    let server = static_server(vec![("ok", blob(3, 100))]);
    env.run(&[
        &server.url("/gone"),
        "ftp://h/x",
        "not a url",
        &server.url("/ok"),
    ])
    .code(1)
    .stderr_has("ftp://h/x: invalid URL: unsupported scheme \"ftp\"")
    .stderr_has("not a url: invalid URL")
    .stdout_has("1 ok (0 already complete), 3 failed");
    assert_file(&env.out().join("ok"), &blob(3, 100));
}

#[test]
fn bad_input_lines_fail_alone_with_their_line_number() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(4, 10)), ("b", blob(5, 20))]);
    let input = format!(
        "# jobs\n{}\n\nnot-a-url\n{} sub/b.bin\n{} x y z\n{} ../escape\n",
        server.url("/a"),
        server.url("/b"),
        server.url("/a"),
        server.url("/b"),
    );
    let file = env.write("jobs.txt", &input);
    env.run(&["-i", &file])
        .code(1)
        .stderr_has("input line 4: ")
        .stderr_has("input line 6: unexpected field")
        .stderr_has("input line 7: ../escape: path escapes the output directory")
        .stdout_has("2 ok (0 already complete), 3 failed");
    assert_file(&env.out().join("a"), &blob(4, 10));
    assert_file(&env.out().join("sub/b.bin"), &blob(5, 20));
    assert_absent(&env.dir.path().join("escape"));
}

#[test]
fn input_from_stdin() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(6, 10))]);
    let out = env
        .cmd()
        .args(["-i", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(server.url("/a").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    Run::from(out).code(0);
    assert_file(&env.out().join("a"), &blob(6, 10));
}

#[test]
fn duplicate_targets_fail_before_any_download() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(7, 10))]);
    let url = server.url("/a");
    let other = server.url("/a?v=2");
    env.run(&["--mode", "serial", &url, &other])
        .code(1)
        .stderr_has("is already used by");
    assert_eq!(
        server.requests().len(),
        1,
        "the duplicate never reached the server"
    );
    assert_file(&env.out().join("a"), &blob(7, 10));
}

#[test]
fn output_dir_that_is_a_file_is_fatal() {
    let env = Env::new();
    std::fs::write(env.out(), b"i am a file").unwrap();
    env.run(&["http://127.0.0.1:9/x"])
        .code(2)
        .stderr_has("unusable output directory")
        .stderr_has(&env.out().display().to_string());
}

#[test]
fn output_dir_is_created_when_missing() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(8, 10))]);
    let deep = env.path("x/y/z");
    let run = Run::from(
        std::process::Command::new(env!("CARGO_BIN_EXE_fetchpool"))
            .args(["-d", deep.to_str().unwrap(), &server.url("/a")])
            .output()
            .unwrap(),
    );
    run.code(0);
    assert_file(&deep.join("a"), &blob(8, 10));
}

#[test]
fn usage_errors_exit_2_naming_the_flag() {
    let env = Env::new();
    env.run(&["-j", "0", "http://h/x"])
        .code(2)
        .stderr_has("--jobs");
    env.run(&[]).code(2).stderr_has("nothing to download");
    env.run(&["--bogus"]).code(2).stderr_has("--bogus");
    env.run(&["-H", "no colon", "http://h/x"])
        .code(2)
        .stderr_has("--header");
    env.run(&["--checksum", "md5=00", "http://h/x"])
        .code(2)
        .stderr_has("--checksum");
    env.run(&["--timeout", "0", "http://h/x"])
        .code(2)
        .stderr_has("--timeout");
}

#[test]
fn unreadable_input_file_is_fatal_and_named() {
    let env = Env::new();
    env.run(&["-i", "no-such-file.txt"])
        .code(2)
        .stderr_has("cannot read input file no-such-file.txt");
}

#[test]
fn json_report_has_records_and_totals() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(9, 1234))]);
    let report = env.path("report.json");
    env.run(&[
        "--json",
        report.to_str().unwrap(),
        &server.url("/a"),
        &server.url("/nope"),
    ])
    .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(run["ok"], 1);
    assert_eq!(run["failed"], 1);
    assert_eq!(run["bytes"], 1234);
    assert_eq!(run["mode"], "parallel");
    let files = run["files"].as_array().unwrap();
    let ok = files.iter().find(|f| f["status"] == "downloaded").unwrap();
    assert_eq!(ok["url"], server.url("/a"));
    assert_eq!(ok["bytes"], 1234);
    assert!(ok["elapsed"].as_f64().unwrap() >= 0.0);
    let bad = files.iter().find(|f| f["status"] == "failed").unwrap();
    assert!(bad["error"].as_str().unwrap().contains("HTTP 404"));
}

#[test]
fn quiet_prints_errors_and_the_summary_when_something_failed() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(10, 10))]);
    let run = env.run(&["-q", &server.url("/a"), &server.url("/b")]);
    run.code(1).stderr_has("HTTP 404");
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(run.stdout.starts_with("parallel: 1 ok"), "{run}");
}

#[test]
fn quiet_prints_nothing_at_all_on_success() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(11, 10)), ("b", blob(12, 10))]);
    let run = env.run(&["-q", &server.url("/a"), &server.url("/b")]);
    run.code(0);
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("", ""),
        "{run}"
    );
    assert_file(&env.out().join("b"), &blob(12, 10));
}

#[test]
fn names_come_from_the_last_segment_and_stay_inside_the_output_dir() {
    let env = Env::new();
    let server = fetchpool::server::Server::start(|req| {
        fetchpool::server::Reply::status(200).body(req.path.clone())
    })
    .unwrap();
    let paths = [
        "/dir/",
        "/a%20b.txt?q=1",
        "/x/%2e%2e",
        "/x/..%2f..%2fescape",
        "/x/a%5cb",
        "/x/%2fetc%2fpasswd",
    ];
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let mut args = vec!["--mode", "serial"];
    args.extend(urls.iter().map(String::as_str));
    let run = env.run(&args);
    // "/dir/" and "/x/%2e%2e" both map to index.html: the second is a duplicate.
    run.code(1).stderr_has("is already used by");
    assert_eq!(
        env.listing(),
        [
            ".._.._escape",
            "_etc_passwd",
            "a b.txt",
            "a_b",
            "index.html"
        ]
    );
    assert_file(&env.out().join("index.html"), b"/dir/");
    assert_absent(&env.dir.path().join("escape"));
}

#[test]
fn demo_runs_and_prints_the_comparison() {
    // The demo keeps its timeline in the temporary directory: make that one the test's own.
    let env = Env::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fetchpool"))
        .env("TMPDIR", env.dir.path())
        .args([
            "demo",
            "--files",
            "4",
            "--size",
            "64K",
            "--latency",
            "5",
            "--bandwidth",
            "4M",
            "-j",
            "4",
        ])
        .output()
        .unwrap();
    let run = Run::from(out);
    run.code(0)
        .stdout_has("verified: 4 files byte-identical")
        .stdout_has("speedup");
}

#[test]
fn dry_run_plans_without_downloading() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(11, 10))]);
    let input = format!("{}\n{}\njunk\n", server.url("/a"), server.url("/a"));
    let file = env.write("in.txt", &input);
    env.run(&["--dry-run", "-i", &file])
        .code(1)
        .stdout_has("dry run: 1 files would be downloaded")
        .stdout_has("2 entries rejected")
        .stderr_has("input line 2: ")
        .stderr_has("input line 3: ");
    assert!(server.requests().is_empty());
    assert!(env.listing().is_empty());
}
