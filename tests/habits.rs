//! Flags that curl, wget and aria2c users type from habit: the same names work, or get a
//! pointer to the fetchpool way.

use std::process::Command;

use crate::harness::*;

fn bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fetchpool"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn output_directory_answers_to_d_dir_p_and_output_dir() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(60, 100))]);
    for (i, flag) in ["-d", "--dir", "-P", "--output-dir", "--directory-prefix"]
        .iter()
        .enumerate()
    {
        let dir = env.path(&format!("d{i}"));
        let run = Run::from(
            bare()
                .args([flag, dir.to_str().unwrap(), &server.url("/a")])
                .output()
                .unwrap(),
        );
        run.code(0);
        assert_file(&dir.join("a"), &blob(60, 100));
    }
}

#[test]
fn dash_o_names_the_file_of_a_single_url_under_the_directory() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(61, 100))]);
    env.run(&["-o", "renamed.bin", &server.url("/a")]).code(0);
    assert_file(&env.out().join("renamed.bin"), &blob(61, 100));
    assert_eq!(env.listing(), ["renamed.bin"]);
}

#[test]
fn dash_o_with_two_urls_is_a_usage_error_pointing_to_d() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(62, 10)), ("b", blob(63, 10))]);
    env.run(&["-o", "x", &server.url("/a"), &server.url("/b")])
        .code(2)
        .stderr_has("-d DIR");
    assert!(server.requests().is_empty());
}

#[test]
fn continue_is_accepted_as_the_default_behaviour() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(64, 1000))]);
    env.run(&["-c", &server.url("/a")]).code(0);
    env.run(&["--continue", &server.url("/a")])
        .code(0)
        .stdout_has("already complete");
    assert_file(&env.out().join("a"), &blob(64, 1000));
}

#[test]
fn json_dash_writes_the_report_to_stdout_and_the_lines_to_stderr() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(65, 10))]);
    let run = env.run(&["--json", "-", &server.url("/a")]);
    run.code(0).stderr_has("parallel: 1 ok");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(doc["runs"][0]["files"][0]["status"], "downloaded");
    assert!(!env.path("-").exists() && !env.out().join("-").exists());
}

#[test]
fn json_and_timeline_cannot_both_take_stdout() {
    let env = Env::new();
    env.run(&["--json", "-", "--timeline", "-", "http://h/x"])
        .code(2)
        .stderr_has("both want stdout");
}

#[test]
fn habits_of_curl_wget_and_aria2c_get_the_fetchpool_way() {
    let env = Env::new();
    for (typed, pointer) in [
        ("-L", "redirects are always followed"),
        ("--tries=3", "--retries"),
        ("-nv", "use -q"),
        ("--conditional-get", "-N"),
        ("--no-check-certificate", "-k"),
        ("-J", "--content-disposition"),
        ("--max-connection-per-server=4", "--max-per-host"),
    ] {
        let flag = typed.split('=').next().unwrap();
        env.run(&[typed, "http://h/x"])
            .code(2)
            .stderr_has(&format!("fetchpool has no '{flag}'"))
            .stderr_has(pointer);
    }
    // A flag nobody knows keeps clap's own message.
    env.run(&["--frobnicate", "http://h/x"])
        .code(2)
        .stderr_has("unexpected argument '--frobnicate'");
}

#[test]
fn verbose_tells_the_story_of_a_download() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(66, 10))]);
    let quiet = env.run(&[&server.url("/a")]);
    assert!(!quiet.stderr.contains("DEBUG"), "{quiet}");
    std::fs::remove_file(env.out().join("a")).unwrap();
    env.run(&["-v", &server.url("/a")])
        .code(0)
        .stderr_has("DEBUG")
        .stderr_has("renamed");
}
