//! HTTPS end to end against a real nginx speaking TLS with a CA and a server certificate
//! generated in the test: what is trusted, what is refused, and that nothing else changes
//! (resume, the redirect rules) over TLS.

use crate::harness::nginx::Nginx;
use crate::harness::pki::{self, Pki};
use crate::harness::*;
use fetchpool::server::Server;

/// nginx over TLS serving `files`, plus `extra` server-block lines.
fn serve(env: &Env, pki: &Pki, files: &[(&str, &[u8])], extra: &str) -> Nginx {
    let root = env.path("www");
    std::fs::create_dir_all(root.join("slow")).unwrap();
    for (name, data) in files {
        std::fs::write(root.join(name), data).unwrap();
    }
    Nginx::start_tls(&root, &pki.cert, &pki.key, extra)
}

fn ca(pki: &Pki) -> &str {
    pki.ca.to_str().unwrap()
}

#[test]
fn an_untrusted_certificate_fails_once_names_the_url_and_says_what_to_do() {
    let env = Env::new();
    let pki = pki::generate();
    let nginx = serve(&env, &pki, &[("f", b"secret data")], "");
    let url = nginx.url("/f");
    let run = env.run(&["--retries", "3", &url]);
    run.code(1)
        .stderr_has(&url)
        .stderr_has("certificate not trusted")
        .stderr_has("--ca-certificate");
    assert_absent(&env.out().join("f"));
    assert!(nginx.access_log().is_empty(), "no request got through");
    // One handshake, refused by the client: a certificate error is never retried.
    let refusals = nginx
        .error_log()
        .lines()
        .filter(|l| l.contains("SSL_do_handshake() failed"))
        .count();
    assert_eq!(refusals, 1, "{}", nginx.error_log());
}

#[test]
fn the_ca_given_with_ca_certificate_is_trusted() {
    let env = Env::new();
    let pki = pki::generate();
    let v = blob(1, 200_000);
    let nginx = serve(&env, &pki, &[("f", &v)], "");
    env.run(&["--ca-certificate", ca(&pki), &nginx.url("/f")])
        .code(0);
    assert_file(&env.out().join("f"), &v);
    // The curl spelling, and a host name instead of the address.
    let by_name = format!("https://localhost:{}/f", nginx.port);
    env.run(&["--force", "--cacert", ca(&pki), &by_name])
        .code(0);
    assert_file(&env.out().join("f"), &v);
}

#[test]
fn the_ca_in_ssl_cert_file_is_trusted_and_a_missing_one_is_an_error() {
    let env = Env::new();
    let pki = pki::generate();
    let v = blob(2, 50_000);
    let nginx = serve(&env, &pki, &[("f", &v)], "");
    let run = env
        .cmd()
        .env("SSL_CERT_FILE", &pki.ca)
        .arg(nginx.url("/f"))
        .output()
        .unwrap();
    Run::from(run).code(0);
    assert_file(&env.out().join("f"), &v);

    let missing = env.path("nowhere.pem");
    let run = env
        .cmd()
        .env("SSL_CERT_FILE", &missing)
        .args(["--force", &nginx.url("/f")])
        .output()
        .unwrap();
    Run::from(run)
        .code(2)
        .stderr_has("nowhere.pem")
        .stderr_has("SSL_CERT_FILE");
}

#[test]
fn a_ca_file_without_certificates_is_a_clear_error() {
    let env = Env::new();
    let bad = env.write("bad.pem", "this is not PEM\n");
    env.run(&["--ca-certificate", &bad, "https://127.0.0.1:9/f"])
        .code(2)
        .stderr_has("bad.pem")
        .stderr_has("no PEM certificate");
}

#[test]
fn insecure_downloads_with_one_warning() {
    let env = Env::new();
    let pki = pki::generate();
    let files: Vec<(String, Vec<u8>)> =
        (0..3).map(|i| (format!("f{i}"), blob(i, 10_000))).collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let nginx = serve(&env, &pki, &refs, "");
    let urls: Vec<String> = files
        .iter()
        .map(|(n, _)| nginx.url(&format!("/{n}")))
        .collect();
    let mut args = vec!["-k"];
    args.extend(urls.iter().map(String::as_str));
    let run = env.run(&args);
    run.code(0).stderr_has("warning: --insecure");
    assert_eq!(run.stderr.matches("--insecure").count(), 1, "{run}");
    for (n, d) in &files {
        assert_file(&env.out().join(n), d);
    }
}

#[test]
fn insecure_is_not_carried_silently_to_another_host() {
    let env = Env::new();
    let pki = pki::generate();
    let v = blob(3, 10_000);
    // 127.0.0.1 redirects to localhost: another host for the client.
    let extra = "location = /elsewhere { return 302 https://localhost:$server_port/f; }";
    let nginx = serve(&env, &pki, &[("f", &v)], extra);
    let run = env.run(&["-k", &nginx.url("/elsewhere")]);
    run.code(0)
        .stderr_has("is not verified either")
        .stderr_has("https://localhost:");
    assert_file(&env.out().join("elsewhere"), &v);
}

#[test]
fn a_cut_download_over_tls_resumes_to_the_exact_file() {
    let env = Env::new();
    let pki = pki::generate();
    let v = blob(4, 4_000_000);
    let nginx = serve(&env, &pki, &[], "");
    std::fs::write(nginx.root.join("slow/f"), &v).unwrap();
    let url = nginx.url("/slow/f");
    let mut child = env
        .cmd()
        .args(["--ca-certificate", ca(&pki), &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let part = env.out().join("f.part");
    while std::fs::metadata(&part).map_or(true, |m| m.len() < 300_000) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the cut"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    env.run(&["--ca-certificate", ca(&pki), &url])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    let log = nginx.requests();
    assert!(
        log.last().unwrap().starts_with("206 GET /slow/f bytes="),
        "{log:?}"
    );
}

#[test]
fn a_redirect_from_https_to_http_is_refused() {
    let env = Env::new();
    let pki = pki::generate();
    let plain =
        Server::start(|req| fetchpool::server::Reply::file(req, b"plain", None, None)).unwrap();
    let extra = format!(
        "location = /down {{ return 302 http://127.0.0.1:{}/f; }}",
        plain.addr().port()
    );
    let nginx = serve(&env, &pki, &[], &extra);
    env.run(&["--ca-certificate", ca(&pki), &nginx.url("/down")])
        .code(1)
        .stderr_has("downgrade");
    // --insecure changes nothing about that.
    env.run(&["-k", &nginx.url("/down")])
        .code(1)
        .stderr_has("downgrade");
    assert!(plain.requests().is_empty(), "the http URL was never asked");
    assert_absent(&env.out().join("down"));
}
