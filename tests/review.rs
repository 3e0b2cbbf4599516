//! Findings of an adversarial review of the promise, each pinned: servers that would make a
//! naive loop ask forever or overflow, secrets in odd places, files fetchpool did not write,
//! links at final paths, counts, and iterators read out of order.

use std::time::Duration;

use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader};

use crate::harness::*;

#[test]
fn a_server_that_answers_every_request_with_the_same_206_is_given_up_not_asked_forever() {
    let env = Env::new();
    let server = Server::start(|_| {
        Reply::status(206)
            .header("Content-Range", "bytes 0-99/300000")
            .body(vec![b'x'; 100])
    })
    .unwrap();
    env.run(&["--retries", "0", &server.url("/f")])
        .code(1)
        .stderr_has("giving up after repeated restarts");
    assert!(
        server.requests().len() <= 8,
        "{} requests",
        server.requests().len()
    );
    assert_absent(&env.out().join("f"));
}

#[test]
fn a_range_given_with_dash_h_is_refused() {
    let env = Env::new();
    env.run(&["-H", "Range: bytes=0-99", "http://h/x"])
        .code(2)
        .stderr_has("fetchpool sends Range and If-Range itself");
}

#[test]
fn a_content_range_at_the_end_of_u64_is_an_error_not_a_panic() {
    let env = Env::new();
    let server = Server::start(|_| {
        Reply::status(206)
            .header("Content-Range", "bytes 0-18446744073709551615/*")
            .body(vec![b'x'; 10])
    })
    .unwrap();
    env.run(&["--retries", "0", &server.url("/f")])
        .code(1)
        .stderr_has("unusable Content-Range");
}

#[test]
fn passwords_with_odd_characters_and_mistyped_headers_are_never_printed() {
    let env = Env::new();
    let list = env.write("list.txt", "http://user:pa?SECRET1@127.0.0.1:1/plain\n");
    let json = env.path("r.json");
    env.run(&["-i", &list, "--json", json.to_str().unwrap()])
        .code(1)
        .nowhere("SECRET1");
    assert!(!std::fs::read_to_string(&json).unwrap().contains("SECRET1"));
    env.run(&["-H", "X-Api-Key=SECRET2", "http://h/x"])
        .code(2)
        .stderr_has("X-Api-Key")
        .nowhere("SECRET2");
    let netrc = env.write("netrc", "machine 127.0.0.1 login bob password my SECRET3\n");
    env.run(&["--netrc-file", &netrc, "http://127.0.0.1:1/x"])
        .nowhere("SECRET3");
}

#[test]
fn a_saved_cookie_jar_is_private_even_when_the_file_existed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let server = Server::start(|req| {
        Reply::file(req, b"x", None, None).header("Set-Cookie", "session=SESSIONSECRET; Path=/")
    })
    .unwrap();
    let jar = env.write("jar.txt", "# Netscape HTTP Cookie File\n");
    std::fs::set_permissions(&jar, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&[
        "--load-cookies",
        &jar,
        "--save-cookies",
        &jar,
        &server.url("/f"),
    ])
    .code(0);
    assert!(
        std::fs::read_to_string(&jar)
            .unwrap()
            .contains("SESSIONSECRET")
    );
    let mode = std::fs::metadata(&jar).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn compare_mode_never_discards_another_tools_partial() {
    let env = Env::new();
    std::fs::create_dir_all(env.out()).unwrap();
    let part = env.out().join("f.part");
    std::fs::write(&part, b"precious foreign bytes").unwrap();
    let server =
        Server::start(|_| Reply::status(200).body(b"something else entirely".to_vec())).unwrap();
    env.run(&["--mode", "compare", &server.url("/f")]).code(1);
    assert_eq!(std::fs::read(&part).unwrap(), b"precious foreign bytes");
}

#[test]
fn a_416_never_completes_another_tools_partial() {
    let env = Env::new();
    let v = blob(80, 300_000);
    std::fs::create_dir_all(env.out()).unwrap();
    let part = env.out().join("f.part");
    std::fs::write(&part, vec![0u8; v.len()]).unwrap();
    let c = v.clone();
    let server = Server::start(move |req| match req.header("range") {
        Some(_) => Reply::status(416).header("Content-Range", format!("bytes */{}", c.len())),
        None => Reply::file(req, &c, None, None),
    })
    .unwrap();
    env.run(&[&server.url("/f")])
        .code(1)
        .stderr_has("was not written by fetchpool");
    assert_absent(&env.out().join("f"));
    assert_eq!(std::fs::read(&part).unwrap(), vec![0u8; v.len()]);
    env.run(&["--force", &server.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn a_symlink_at_a_final_path_is_neither_followed_nor_a_second_entry() {
    let env = Env::new();
    std::fs::create_dir_all(env.out()).unwrap();
    let a = blob(81, 1000);
    std::fs::write(env.out().join("a"), &a).unwrap();
    std::os::unix::fs::symlink(env.out().join("a"), env.out().join("b")).unwrap();
    let server = static_server(vec![("x", blob(82, 1000)), ("y", blob(83, 1000))]);
    let list = env.write(
        "list.txt",
        &format!("{} a\n{} b\n", server.url("/x"), server.url("/y")),
    );
    env.run(&["--mode", "serial", "-i", &list])
        .code(1)
        .stderr_has("input line 2:")
        .stderr_has("is already used by line 1");
    assert!(hits(&server, "/y").is_empty());
    // On its own, a link at the final path is an error, not a complete file.
    let run = env.run(&[
        "-i",
        &env.write("one.txt", &format!("{} b\n", server.url("/y"))),
    ]);
    run.code(1).stderr_has("is a symbolic link");
    assert_file(&env.out().join("a"), &a);
}

#[test]
fn gzip_downloads_count_the_bytes_received() {
    let env = Env::new();
    let v = b"counted bytes\n".repeat(10_000);
    let z = gzip(&v);
    let zlen = z.len();
    let server = Server::start(move |_| {
        Reply::status(200)
            .header("Content-Encoding", "gzip")
            .body(z.clone())
    })
    .unwrap();
    let json = env.path("r.json");
    env.run(&["--json", json.to_str().unwrap(), &server.url("/f")])
        .code(0);
    assert_file(&env.out().join("f"), &v);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["runs"][0]["files"][0]["received"], zlen);
}

#[test]
fn an_unreachable_proxy_is_named_with_its_credentials_hidden() {
    let env = Env::new();
    env.run(&[
        "--retries",
        "0",
        "--proxy",
        "http://u:PROXYPW@127.0.0.1:1",
        "http://127.0.0.1:2/f",
    ])
    .code(1)
    .stderr_has("via proxy http://u:***@127.0.0.1:1")
    .nowhere("PROXYPW");
}

#[test]
fn a_users_empty_files_at_temporary_paths_are_never_deleted() {
    let env = Env::new();
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join("a.part.meta"), b"").unwrap();
    std::fs::write(env.out().join("b.part"), b"").unwrap();
    let server = Server::start(|_| Reply::status(404)).unwrap();
    env.run(&[&server.url("/a"), &server.url("/b")]).code(1);
    assert!(env.out().join("a.part.meta").exists());
    assert!(env.out().join("b.part").exists());
}

#[test]
fn two_iterators_of_one_downloader_read_in_any_order_never_hold_the_pool() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(84, 100))]);
    let out = env.out();
    let url = server.url("/a");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let d = Downloader::new(Config {
            jobs: 2,
            ..Config::default()
        })
        .unwrap();
        let first = d.parallel((0..30).map(|i| (url.clone(), out.join(format!("x{i}")))));
        let second: usize = d
            .parallel((0..30).map(|i| (url.clone(), out.join(format!("y{i}")))))
            .filter(|r| r.is_ok())
            .count();
        let first: usize = first.filter(|r| r.is_ok()).count();
        let _ = tx.send((first, second));
    });
    let counts = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the second iterator never finished: the pool is held by the first");
    assert_eq!(counts, (30, 30));
}
