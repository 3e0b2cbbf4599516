//! Logins: `--user`, `--netrc`, `--netrc-file` against a server that requires Basic auth;
//! credentials go to the host they belong to only, never after a redirect to another host,
//! and never appear in any output.

use fetchpool::server::{Reply, Request, Server};

use crate::harness::*;

const PASSWORD: &str = "w0nderl4nd";
/// base64("alice:w0nderl4nd")
const TOKEN: &str = "YWxpY2U6dzBuZGVybDRuZA==";

/// Basic auth required everywhere but `/hop`, which redirects to `hop_to`.
fn guarded(hop_to: Option<String>) -> Server {
    Server::start(move |req: &Request| {
        if req.path == "/hop" {
            return match &hop_to {
                Some(to) => Reply::status(302).header("Location", to.clone()),
                None => Reply::status(404),
            };
        }
        if req.header("authorization") == Some(&format!("Basic {TOKEN}")) {
            Reply::file(req, req.path.as_bytes(), None, None)
        } else {
            Reply::status(401).header("WWW-Authenticate", "Basic realm=\"test\"")
        }
    })
    .unwrap()
}

#[test]
fn user_option_logs_in_and_the_password_is_never_printed() {
    let env = Env::new();
    let server = guarded(None);
    env.run(&[&server.url("/nope")]).code(1).stderr_has("401");
    let run = env
        .cmd()
        .env("RUST_LOG", "trace")
        .args(["-u", &format!("alice:{PASSWORD}"), &server.url("/f")])
        .output()
        .unwrap();
    Run::from(run).code(0).nowhere(PASSWORD).nowhere(TOKEN);
    assert_file(&env.out().join("f"), b"/f");
}

#[test]
fn netrc_file_gives_each_host_its_own_login() {
    let env = Env::new();
    let server = guarded(None);
    let netrc = env.write(
        "netrc",
        &format!(
            "machine other.example login mallory password nope\n\
             machine 127.0.0.1\n  login alice\n  password {PASSWORD}\n"
        ),
    );
    env.run(&["--netrc-file", &netrc, &server.url("/f")])
        .code(0)
        .nowhere(PASSWORD);
    assert_file(&env.out().join("f"), b"/f");

    // Only another machine's entry: nothing is sent.
    let foreign = env.write("netrc2", "machine other.example login alice password x\n");
    env.run(&["--netrc-file", &foreign, &server.url("/g")])
        .code(1)
        .stderr_has("401");
    assert_eq!(hits(&server, "/g")[0].header("authorization"), None);
}

#[test]
fn netrc_reads_the_home_netrc() {
    let env = Env::new();
    let server = guarded(None);
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".netrc"),
        format!("default login alice password {PASSWORD}\n"),
    )
    .unwrap();
    let run = env
        .cmd()
        .env("HOME", &home)
        .args(["--netrc", &server.url("/f")])
        .output()
        .unwrap();
    Run::from(run).code(0);
    assert_file(&env.out().join("f"), b"/f");
    // Opt-in, as curl: without --netrc the file is not read.
    let run = env
        .cmd()
        .env("HOME", &home)
        .arg(server.url("/g"))
        .output()
        .unwrap();
    Run::from(run).code(1).stderr_has("401");
}

#[test]
fn no_credentials_follow_a_redirect_to_another_host() {
    let env = Env::new();
    let other = Server::start(|req| Reply::file(req, b"public", None, None)).unwrap();
    let to = format!("http://localhost:{}/f", other.addr().port());
    let server = guarded(Some(to));
    // The netrc even has an entry for the other host: it was not the host the user named.
    let netrc = env.write(
        "netrc",
        &format!(
            "machine 127.0.0.1 login alice password {PASSWORD}\n\
             machine localhost login alice password {PASSWORD}\n"
        ),
    );
    for args in [
        vec!["-u".to_string(), format!("alice:{PASSWORD}")],
        vec!["--netrc-file".to_string(), netrc.clone()],
    ] {
        let mut all = args.clone();
        all.extend(["--force".to_string(), server.url("/hop")]);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        env.run(&all).code(0).nowhere(PASSWORD);
        assert_file(&env.out().join("hop"), b"public");
    }
    let hops = hits(&server, "/hop");
    assert_eq!(hops.len(), 2);
    assert!(
        hops.iter().all(|r| r.header("authorization").is_some()),
        "the origin had them"
    );
    let moved = other.requests();
    assert_eq!(moved.len(), 2);
    assert!(moved.iter().all(|r| r.header("authorization").is_none()));
}
