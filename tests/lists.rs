//! Input lists: quoted paths, and aria2c's format (indented options, TAB-separated mirrors
//! tried in turn, a partial continued across mirrors only on exactly the same version).

use std::sync::{Arc, Mutex};

use fetchpool::server::{Fault, Reply, Request, Server};

use crate::harness::*;

/// A URL on a loopback port where nothing listens.
fn dead_url(path: &str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn a_quoted_path_may_hold_spaces() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(100, 500)), ("b", blob(101, 500))]);
    let list = format!(
        "{} \"my file.csv\"\n{} 'sub dir/it''s.bin'\n",
        server.url("/a"),
        server.url("/b")
    );
    let run = env.run(&["-i", &env.write("list.txt", &list)]);
    // The second line quotes wrongly (a quote closed in the middle of a field): it fails
    // alone, naming its line; the first is downloaded.
    run.code(1).stderr_has("input line 2: ");
    assert_file(&env.out().join("my file.csv"), &blob(100, 500));
    let list = format!("{} 'sub dir/its.bin'\n", server.url("/b"));
    env.run(&["-i", &env.write("list2.txt", &list)]).code(0);
    assert_file(&env.out().join("sub dir/its.bin"), &blob(101, 500));
}

#[test]
fn aria2_lists_take_out_dir_checksum_and_header_options() {
    let env = Env::new();
    let (a, b, c) = (blob(102, 3000), blob(103, 3000), blob(104, 3000));
    let server = static_server(vec![("a", a.clone()), ("b", b.clone()), ("c", c.clone())]);
    let list = format!(
        "{}\n  out=renamed.bin\n  dir=sub\n  checksum=sha-256={}\n  header=X-Token: t1\n\
         {}\n\tout=b2.bin\n\
         {}\n  checksum=sha-256={}\n",
        server.url("/a"),
        sha(&a),
        server.url("/b"),
        server.url("/c"),
        sha(&a),
    );
    let run = env.run(&["-i", &env.write("aria.txt", &list)]);
    run.code(1).stderr_has("checksum mismatch");
    assert_file(&env.out().join("sub/renamed.bin"), &a);
    assert_file(&env.out().join("b2.bin"), &b);
    assert_absent(&env.out().join("c"));
    assert_eq!(hits(&server, "/a")[0].header("x-token"), Some("t1"));
    assert_eq!(hits(&server, "/b")[0].header("x-token"), None);
}

#[test]
fn an_unknown_aria2_option_fails_its_entry_naming_line_and_option() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(105, 10)), ("b", blob(106, 10))]);
    let list = format!("{}\n  split=4\n{}\n", server.url("/a"), server.url("/b"));
    env.run(&["-i", &env.write("aria.txt", &list)])
        .code(1)
        .stderr_has("input line 2: option \"split\" is not supported");
    assert_absent(&env.out().join("a"));
    assert_file(&env.out().join("b"), &blob(106, 10));
}

#[test]
fn mirrors_are_tried_in_turn_when_the_first_is_down() {
    let env = Env::new();
    let data = blob(107, 40_000);
    let server = static_server(vec![("x", data.clone())]);
    let missing = static_server(vec![]);
    let list = format!(
        "{}\t{}\t{}\n",
        dead_url("/x"),
        missing.url("/x"),
        server.url("/x")
    );
    env.run(&["--retries", "0", "-i", &env.write("m.txt", &list)])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("x"), &data);
    assert_eq!(hits(&missing, "/x").len(), 1);
}

#[test]
fn when_every_mirror_fails_the_entry_fails_once() {
    let env = Env::new();
    let missing = static_server(vec![]);
    let list = format!("{}\t{}\n", missing.url("/x"), missing.url("/y"));
    env.run(&["-i", &env.write("m.txt", &list)])
        .code(1)
        .stderr_has("HTTP 404");
    assert_eq!(missing.requests().len(), 2);
    assert_absent(&env.out().join("x"));
}

/// A mirror whose fault can be set between runs; `None` answers 503.
fn mirror(data: &[u8], etag: &'static str, fault: &Arc<Mutex<Option<Fault>>>) -> Server {
    let (data, fault) = (data.to_vec(), fault.clone());
    Server::start(move |req: &Request| match *fault.lock().unwrap() {
        Some(f) => Reply::file(req, &data, Some(etag), None).fault(f),
        None => Reply::status(503),
    })
    .unwrap()
}

/// A partial from mirror A, then a run where A is down: B continues it only when its ETag is
/// exactly A's; otherwise the file restarts from B's first byte. Either way the file is B's.
fn across_mirrors(b_etag: &'static str) -> (Env, Vec<u8>, Server, String) {
    let env = Env::new();
    let data = blob(108, 100_000);
    let cut = Arc::new(Mutex::new(Some(Fault::CutAfter(30_000))));
    let a = mirror(&data, "\"same\"", &cut);
    let normal = Arc::new(Mutex::new(None));
    let b = mirror(&data, b_etag, &normal);
    // The same list both times: A, then B.
    let list = env.write("m.txt", &format!("{}\t{}\n", a.url("/f"), b.url("/f")));
    env.run(&["--retries", "0", "-i", &list]).code(1);
    assert!(
        env.listing().contains(&"f.part".to_string()),
        "{:?}",
        env.listing()
    );
    // A goes down, B comes back.
    drop(a);
    *normal.lock().unwrap() = Some(Fault::Normal);
    let run = env.run(&["--retries", "0", "-i", &list]);
    run.code(0);
    assert_file(&env.out().join("f"), &data);
    (env, data, b, run.stdout)
}

#[test]
fn a_partial_continues_on_another_mirror_with_exactly_the_same_etag() {
    let (_env, _data, b, stdout) = across_mirrors("\"same\"");
    assert!(stdout.contains("(resumed)"), "{stdout}");
    let asked = hits(&b, "/f");
    assert_eq!(asked.last().unwrap().header("range"), Some("bytes=30000-"));
}

#[test]
fn a_partial_restarts_on_a_mirror_with_another_etag() {
    let (_env, _data, b, stdout) = across_mirrors("\"other\"");
    assert!(stdout.contains("(downloaded)"), "{stdout}");
    assert!(!hits(&b, "/f").is_empty());
}

#[test]
fn an_aria2_list_piped_to_stdin_keeps_its_options() {
    use std::io::Write;
    let env = Env::new();
    let server = static_server(vec![("a", blob(109, 100)), ("b", blob(110, 100))]);
    let list = format!(
        "{}\n  out=one.bin\n{}\n  out=two.bin\n",
        server.url("/a"),
        server.url("/b")
    );
    let mut child = env
        .cmd()
        .args(["-i", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap()).code(0);
    assert_file(&env.out().join("one.bin"), &blob(109, 100));
    assert_file(&env.out().join("two.bin"), &blob(110, 100));
}
