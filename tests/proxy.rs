//! Through a real squid with its stock access rules: plain http in absolute form (the stock
//! rules refuse CONNECT to anything but 443), https through CONNECT, the environment
//! variables, NO_PROXY, and an authenticating proxy whose credentials never reach the origin.

use crate::harness::nginx::Nginx;
use crate::harness::pki;
use crate::harness::socks::Socks;
use crate::harness::squid::{Options, Squid};
use crate::harness::*;

const PASSWORD: &str = "pr0xy-s3cret";

/// base64("alice:pr0xy-s3cret"), as it would travel in a header.
const TOKEN: &str = "YWxpY2U6cHIweHktczNjcmV0";

#[test]
fn plain_http_goes_to_squid_in_absolute_form() {
    let env = Env::new();
    let squid = Squid::start(Options::default());
    // Twenty files on two workers: kept-alive connections to the proxy carry several
    // requests, and each one's request line must be in absolute form.
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("f{i}"), blob(i, 30_000)))
        .collect();
    let origin = static_server(files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect());
    let urls: Vec<String> = files
        .iter()
        .map(|(n, _)| origin.url(&format!("/{n}")))
        .collect();
    let mut args = vec!["-j", "2", "--proxy"];
    let proxy = squid.url();
    args.push(&proxy);
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(0);
    for (n, d) in &files {
        assert_file(&env.out().join(n), d);
    }
    let log = squid.access_log(20);
    for url in &urls {
        let want = format!(" GET {url} ");
        assert!(log.iter().any(|l| l.contains(&want)), "{want} in {log:?}");
    }
    assert!(!log.iter().any(|l| l.contains("CONNECT")), "{log:?}");
    // The origin saw the requests come through squid.
    assert!(origin.requests().iter().all(|r| r.header("via").is_some()));
}

#[test]
fn https_goes_through_a_connect_tunnel() {
    let env = Env::new();
    let pki = pki::generate();
    let root = env.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let v = blob(3, 100_000);
    std::fs::write(root.join("f"), &v).unwrap();
    let nginx = Nginx::start_tls(&root, &pki.cert, &pki.key, "");
    let squid = Squid::start(Options {
        ssl_ports: vec![nginx.port],
        ..Options::default()
    });
    env.run(&[
        "--proxy",
        &squid.url(),
        "--ca-certificate",
        pki.ca.to_str().unwrap(),
        &nginx.url("/f"),
    ])
    .code(0);
    assert_file(&env.out().join("f"), &v);
    let log = squid.access_log(1);
    let want = format!(" CONNECT 127.0.0.1:{}", nginx.port);
    assert!(log.iter().any(|l| l.contains(&want)), "{log:?}");
}

#[test]
fn http_proxy_and_https_proxy_variables_are_used_per_scheme() {
    let env = Env::new();
    let pki = pki::generate();
    let root = env.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let secure = blob(4, 20_000);
    std::fs::write(root.join("s"), &secure).unwrap();
    let nginx = Nginx::start_tls(&root, &pki.cert, &pki.key, "");
    let plain = blob(5, 20_000);
    let origin = static_server(vec![("p", plain.clone())]);
    let for_http = Squid::start(Options::default());
    let for_https = Squid::start(Options {
        ssl_ports: vec![nginx.port],
        ..Options::default()
    });
    let run = env
        .cmd()
        .env("http_proxy", for_http.url())
        .env("HTTPS_PROXY", for_https.url())
        .args(["--cacert", pki.ca.to_str().unwrap()])
        .args([origin.url("/p"), nginx.url("/s")])
        .output()
        .unwrap();
    Run::from(run).code(0);
    assert_file(&env.out().join("p"), &plain);
    assert_file(&env.out().join("s"), &secure);
    let http_log = for_http.access_log(1);
    let https_log = for_https.access_log(1);
    assert!(
        http_log
            .iter()
            .any(|l| l.contains(&format!(" GET {}", origin.url("/p"))))
    );
    assert!(
        !http_log.iter().any(|l| l.contains("CONNECT")),
        "{http_log:?}"
    );
    assert!(
        https_log.iter().any(|l| l.contains(" CONNECT 127.0.0.1:")),
        "{https_log:?}"
    );
    assert!(
        !https_log.iter().any(|l| l.contains(" GET ")),
        "{https_log:?}"
    );
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let env = Env::new();
    let squid = Squid::start(Options::default());
    let v = blob(6, 5_000);
    let origin = static_server(vec![("f", v.clone())]);
    let direct = format!("http://localhost:{}/f", origin.addr().port());
    let run = env
        .cmd()
        .env("http_proxy", squid.url())
        .env("NO_PROXY", "example.org, localhost")
        .arg(&direct)
        .output()
        .unwrap();
    Run::from(run).code(0);
    assert_file(&env.out().join("f"), &v);
    assert!(
        hits(&origin, "/f")[0].header("via").is_none(),
        "went direct"
    );
    // --no-proxy replaces the variable: now the same host goes through squid.
    let run = env
        .cmd()
        .env("http_proxy", squid.url())
        .env("NO_PROXY", "localhost")
        .args(["--force", "--no-proxy", "example.org", &direct])
        .output()
        .unwrap();
    Run::from(run).code(0);
    let log = squid.access_log(1);
    assert_eq!(log.len(), 1, "only the second run used the proxy: {log:?}");
    assert!(log[0].contains(&format!(" GET {direct}")), "{log:?}");
}

#[test]
fn proxy_credentials_reach_the_proxy_only() {
    let env = Env::new();
    let pki = pki::generate();
    let root = env.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let secure = blob(7, 30_000);
    std::fs::write(root.join("s"), &secure).unwrap();
    let nginx = Nginx::start_tls(&root, &pki.cert, &pki.key, "");
    let plain = blob(8, 30_000);
    let origin = static_server(vec![("p", plain.clone())]);
    let squid = Squid::start(Options {
        login: Some(("alice", PASSWORD)),
        ssl_ports: vec![nginx.port],
    });

    // Without credentials the proxy says 407, and the message says so.
    env.run(&["--proxy", &squid.url(), "--retries", "0", &origin.url("/p")])
        .code(1)
        .stderr_has("407");

    let proxy = squid
        .url()
        .replace("http://", &format!("http://alice:{PASSWORD}@"));
    let run = env
        .cmd()
        .env("RUST_LOG", "trace")
        .args(["--proxy", &proxy, "--cacert", pki.ca.to_str().unwrap()])
        .args([origin.url("/p"), nginx.url("/s")])
        .output()
        .unwrap();
    Run::from(run).code(0).nowhere(PASSWORD).nowhere(TOKEN);
    assert_file(&env.out().join("p"), &plain);
    assert_file(&env.out().join("s"), &secure);
    let log = squid.access_log(3);
    let authed: Vec<&String> = log.iter().filter(|l| l.contains(" alice ")).collect();
    assert_eq!(authed.len(), 2, "both requests authenticated: {log:?}");

    // The origin's request log: no header carries the credentials in any form.
    let seen = hits(&origin, "/p");
    assert!(!seen.is_empty());
    for req in seen {
        for (name, value) in &req.headers {
            assert!(
                !name.eq_ignore_ascii_case("proxy-authorization")
                    && !name.eq_ignore_ascii_case("authorization")
                    && !value.contains(TOKEN)
                    && !value.contains(PASSWORD),
                "the origin received {name}: {value}"
            );
        }
    }
}

#[test]
fn socks5_proxies_carry_http_and_https() {
    let env = Env::new();
    let socks = Socks::start();
    let pki = pki::generate();
    let root = env.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let secure = blob(9, 40_000);
    std::fs::write(root.join("s"), &secure).unwrap();
    let nginx = Nginx::start_tls(&root, &pki.cert, &pki.key, "");
    let plain = blob(10, 40_000);
    let origin = static_server(vec![("p", plain.clone())]);
    // socks5h: the proxy resolves the name.
    let by_name = format!("http://localhost:{}/p", origin.addr().port());
    let run = env
        .cmd()
        .env("ALL_PROXY", format!("socks5h://127.0.0.1:{}", socks.port))
        .args([
            "--cacert",
            pki.ca.to_str().unwrap(),
            &by_name,
            &nginx.url("/s"),
        ])
        .output()
        .unwrap();
    Run::from(run).code(0);
    assert_file(&env.out().join("p"), &plain);
    assert_file(&env.out().join("s"), &secure);
    assert_eq!(socks.relayed_to(origin.addr().port()), 1, "{}", socks.log());
    assert_eq!(socks.relayed_to(nginx.port), 1, "{}", socks.log());
}
