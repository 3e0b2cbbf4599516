//! Sessions: a server that sets a session cookie on a login URL and requires it elsewhere;
//! cookies.txt files in and out; the rules (host, domain, path, secure, expiry) and that a
//! cookie never reaches a host it does not belong to, redirects included.

use fetchpool::server::{Reply, Request, Server};

use crate::harness::*;

const SESSION: &str = "s3ss10n-value";

/// `/login` sets the session; `/private/*` needs it (503 + Retry-After: 0 without it, so a
/// worker that raced ahead of the login retries); `/hop` redirects to `hop_to`.
fn session_server(hop_to: Option<String>) -> Server {
    Server::start(move |req: &Request| {
        let has_session = req
            .header("cookie")
            .is_some_and(|c| c.split("; ").any(|kv| kv == format!("session={SESSION}")));
        match req.path.as_str() {
            "/login" => Reply::status(200)
                .header("Set-Cookie", format!("session={SESSION}; Path=/; HttpOnly"))
                .header("Set-Cookie", "elsewhere=1; Domain=example.org; Path=/")
                .body("welcome"),
            p if p.starts_with("/private/") && has_session => {
                Reply::file(req, p.as_bytes(), None, None)
            }
            p if p.starts_with("/private/") => Reply::status(503)
                .header("Retry-After", "0")
                .body("log in first"),
            "/hop" => match &hop_to {
                Some(to) => Reply::status(302).header("Location", to.clone()),
                None => Reply::status(404),
            },
            _ => Reply::status(404),
        }
    })
    .unwrap()
}

fn cookie_of(req: &Request) -> Option<String> {
    req.header("cookie").map(str::to_string)
}

#[test]
fn a_login_cookie_is_sent_on_the_following_urls() {
    let env = Env::new();
    let server = session_server(None);
    let run = env
        .cmd()
        .env("RUST_LOG", "trace")
        .args(["--mode", "serial", &server.url("/login")])
        .args((0..3).map(|i| server.url(&format!("/private/{i}"))))
        .output()
        .unwrap();
    let run = Run::from(run);
    run.code(0).nowhere(SESSION);
    for i in 0..3 {
        let p = format!("/private/{i}");
        assert_file(&env.out().join(i.to_string()), p.as_bytes());
        assert_eq!(
            hits(&server, &p).len(),
            1,
            "sent with the cookie the first time"
        );
        assert_eq!(
            cookie_of(&hits(&server, &p)[0]).as_deref(),
            Some(format!("session={SESSION}").as_str()),
            "and only the cookie of this host (not example.org's)"
        );
    }
}

#[test]
fn workers_share_one_jar() {
    let env = Env::new();
    let server = session_server(None);
    let mut list = server.url("/login") + "\n";
    for i in 0..12 {
        list += &(server.url(&format!("/private/{i}")) + "\n");
    }
    let input = env.write("list.txt", &list);
    env.run(&["-j", "4", "-i", &input])
        .code(0)
        .stdout_has("13 ok");
    // Every private file came with the cookie that one worker's login response set.
    for i in 0..12 {
        let p = format!("/private/{i}");
        let ok: Vec<_> = hits(&server, &p)
            .into_iter()
            .filter(|r| cookie_of(r).is_some())
            .collect();
        assert_eq!(ok.len(), 1, "{p}");
    }
}

#[test]
fn a_cookies_txt_file_sends_only_the_cookies_that_belong() {
    let env = Env::new();
    let server = session_server(None);
    let fixture = env.write(
        "cookies.txt",
        &format!(
            "# Netscape HTTP Cookie File\n\
             # a comment\n\
             \n\
             127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{SESSION}\n\
             #HttpOnly_127.0.0.1\tFALSE\t/private\tFALSE\t4102444800\tlong\tlived\n\
             127.0.0.1\tFALSE\t/\tFALSE\t1000000000\texpired\tgone\n\
             localhost\tFALSE\t/\tFALSE\t0\tforeign\thost\n\
             .example.org\tTRUE\t/\tFALSE\t0\tforeign\tdomain\n\
             127.0.0.1\tFALSE\t/\tTRUE\t0\tsecure\tonly\n\
             127.0.0.1\tFALSE\t/elsewhere\tFALSE\t0\tother\tpath\n"
        ),
    );
    env.run(&["--load-cookies", &fixture, &server.url("/private/a")])
        .code(0);
    let sent = cookie_of(&hits(&server, "/private/a")[0]).unwrap();
    let mut pairs: Vec<&str> = sent.split("; ").collect();
    pairs.sort();
    // A Secure cookie goes to loopback over plain http: loopback counts as a secure context
    // (RFC 6265bis, browsers, cookie_store). Off loopback it needs https (unit tests).
    assert_eq!(
        pairs,
        ["long=lived", "secure=only", &format!("session={SESSION}")]
    );
}

#[test]
fn a_bad_cookies_file_names_its_line() {
    let env = Env::new();
    let bad = env.write("bad.txt", "# Netscape HTTP Cookie File\nnot\ta\tcookie\n");
    env.run(&["--load-cookies", &bad, "http://127.0.0.1:9/x"])
        .code(2)
        .stderr_has("bad.txt:2:");
    env.run(&["-b", "missing-file.txt", "http://127.0.0.1:9/x"])
        .code(2)
        .stderr_has("missing-file.txt");
}

#[test]
fn cookie_data_goes_to_the_named_host_only_even_across_a_redirect() {
    let env = Env::new();
    let v = blob(1, 1000);
    let c = v.clone();
    let other = Server::start(move |req| Reply::file(req, &c, None, None)).unwrap();
    // Same address, another host name: a host the cookies do not belong to.
    let target = format!("http://localhost:{}/f", other.addr().port());
    let server = session_server(Some(target));
    let jar = env.write(
        "jar.txt",
        &format!("127.0.0.1\tFALSE\t/\tFALSE\t0\tfromfile\t{SESSION}\n"),
    );
    env.run(&[
        "-b",
        &format!("session={SESSION}; theme=dark"),
        "-b",
        &jar,
        &server.url("/private/x"),
        &server.url("/hop"),
    ])
    .code(0)
    .nowhere(SESSION);
    let first = cookie_of(&hits(&server, "/private/x")[0]).unwrap();
    assert!(first.contains(&format!("session={SESSION}")) && first.contains("theme=dark"));
    assert!(
        first.contains("fromfile="),
        "-b FILE loads a cookies file: {first}"
    );
    assert!(cookie_of(&hits(&server, "/hop")[0]).is_some());
    assert_file(&env.out().join("hop"), &v);
    assert_eq!(
        cookie_of(&other.requests()[0]),
        None,
        "no cookie to the other host"
    );
}

#[test]
fn a_cookie_set_before_a_redirect_stays_with_its_host() {
    let env = Env::new();
    let other = Server::start(|req| Reply::file(req, b"there", None, None)).unwrap();
    let to = format!("http://localhost:{}/f", other.addr().port());
    let origin = Server::start(move |req: &Request| match req.path.as_str() {
        "/go" => Reply::status(302)
            .header("Set-Cookie", format!("session={SESSION}; Path=/"))
            .header("Location", to.clone()),
        _ => Reply::status(404),
    })
    .unwrap();
    env.run(&[&origin.url("/go")]).code(0);
    assert_file(&env.out().join("go"), b"there");
    assert_eq!(cookie_of(&other.requests()[0]), None);
}

#[test]
fn save_cookies_round_trips_through_load_cookies() {
    let env = Env::new();
    let server = session_server(None);
    let saved = env.path("saved.txt");
    let saved_s = saved.to_str().unwrap();
    env.run(&["--save-cookies", saved_s, &server.url("/login")])
        .code(0)
        .nowhere(SESSION);
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.starts_with("# Netscape HTTP Cookie File"), "{text}");
    assert!(
        text.contains(&format!(
            "#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{SESSION}"
        )),
        "{text}"
    );
    assert!(
        !text.contains("example.org"),
        "a foreign cookie is not kept: {text}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );

    env.run(&["--load-cookies", saved_s, &server.url("/private/again")])
        .code(0);
    assert_eq!(
        cookie_of(&hits(&server, "/private/again")[0]).as_deref(),
        Some(format!("session={SESSION}").as_str())
    );
}
