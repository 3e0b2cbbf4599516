//! Against a real nginx on loopback: its own ETag / If-Range / Range / 416 behaviour,
//! keep-alive across many files, and a large file. These never skip: without nginx they fail.

use std::time::{Duration, SystemTime};

use crate::harness::nginx::Nginx;
use crate::harness::*;

fn serve(env: &Env, files: &[(&str, &[u8])]) -> Nginx {
    let root = env.path("www");
    for (name, data) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    std::fs::create_dir_all(root.join("slow")).unwrap();
    Nginx::start(&root)
}

#[test]
fn nginx_many_files_over_kept_alive_connections() {
    let env = Env::new();
    let data: Vec<Vec<u8>> = (0..60).map(|i| blob(i, 10_000 + i * 37)).collect();
    let names: Vec<String> = (0..60).map(|i| format!("f{i}.bin")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(data.iter().map(Vec::as_slice))
        .collect();
    let nginx = serve(&env, &files);
    let list: String = names
        .iter()
        .map(|n| nginx.url(&format!("/{n}")) + "\n")
        .collect();
    let input = env.write("list.txt", &list);
    env.run(&["-j", "4", "-i", &input])
        .code(0)
        .stdout_has("60 ok");
    for (n, d) in &files {
        assert_file(&env.out().join(n), d);
    }
    let log = nginx.access_log();
    assert_eq!(log.len(), 60, "{log:?}");
    let mut conns: Vec<&str> = log.iter().map(|l| l.split(' ').next().unwrap()).collect();
    conns.sort();
    conns.dedup();
    assert!(
        conns.len() <= 4,
        "60 requests should reuse the 4 workers' connections: {conns:?}"
    );
}

#[test]
fn nginx_resumes_a_partial_with_a_real_206() {
    let env = Env::new();
    let v = blob(1, 1_000_000);
    let nginx = serve(&env, &[("f", &v)]);
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join("f.part"), &v[..333_333]).unwrap();
    env.run(&[&nginx.url("/f")]).code(0).stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    assert_eq!(nginx.requests(), ["206 GET /f bytes=333333-"]);
}

#[test]
fn nginx_416_on_a_complete_partial_is_accepted_without_its_body() {
    let env = Env::new();
    let v = blob(2, 50_000);
    let nginx = serve(&env, &[("f", &v)]);
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join("f.part"), &v).unwrap();
    // An earlier fetchpool run's partial (killed before its rename): our sidecar beside it.
    // Another tool's bytes are never completed by a 416 (tests/review.rs).
    let meta = format!(
        "fetchpool-partial 1\nurl {}\ntotal {}\nresumable true\nend\n",
        nginx.url("/f"),
        v.len()
    );
    std::fs::write(env.out().join("f.part.meta"), meta).unwrap();
    env.run(&[&nginx.url("/f")]).code(0);
    assert_file(&env.out().join("f"), &v);
    assert_eq!(nginx.requests(), ["416 GET /f bytes=50000-"]);
}

#[test]
fn nginx_large_file_is_exact() {
    let env = Env::new();
    let v = blob(3, 48 << 20);
    let nginx = serve(&env, &[("big", &v)]);
    env.run(&[&nginx.url("/big")]).code(0);
    assert_file(&env.out().join("big"), &v);
}

/// Kill a download of /slow/f (2 MB/s in nginx) once some bytes are on disk.
fn killed_midway(env: &Env, nginx: &Nginx) {
    killed_midway_at(env, nginx, "/slow/f");
}

fn killed_midway_at(env: &Env, nginx: &Nginx, path: &str) {
    let mut child = env.spawn_until_partial(&nginx.url(path), "f", 300_000);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("{i},some,compressible,csv,text\n").into_bytes())
        .collect()
}

#[test]
fn nginx_with_gzip_on_sends_identity_and_a_killed_download_resumes_exact() {
    let env = Env::new();
    let v = text(200_000);
    let nginx = serve(&env, &[("gz/f", &v)]);
    killed_midway_at(&env, &nginx, "/gz/f");
    env.run(&[&nginx.url("/gz/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    let log = nginx.requests();
    assert!(log[1].starts_with("206 GET /gz/f bytes="), "{log:?}");
}

#[test]
fn nginx_gzip_static_always_is_decoded_and_a_killed_download_is_never_spliced() {
    let env = Env::new();
    let v = text(400_000);
    let nginx = serve(&env, &[("gzstatic/f", &v), ("gzstatic/f.gz", &gzip(&v))]);
    killed_midway_at(&env, &nginx, "/gzstatic/f");
    env.run(&[&nginx.url("/gzstatic/f")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v);
    // The decoded partial was not continued with a Range over the compressed bytes.
    let log = nginx.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].starts_with("200 GET /gzstatic/f -"), "{log:?}");
    assert_eq!(env.listing(), ["f"]);
}

#[test]
fn nginx_if_range_resumes_the_same_version_after_a_kill() {
    let env = Env::new();
    let v = blob(4, 4_000_000);
    let nginx = serve(&env, &[("slow/f", &v)]);
    killed_midway(&env, &nginx);
    env.run(&[&nginx.url("/slow/f")])
        .code(0)
        .stdout_has("(resumed)");
    assert_file(&env.out().join("f"), &v);
    let log = nginx.requests();
    assert!(log[1].starts_with("206 GET /slow/f bytes="), "{log:?}");
}

#[test]
fn nginx_if_range_restarts_when_the_file_changed_under_a_partial() {
    let env = Env::new();
    let (v1, v2) = (blob(5, 4_000_000), blob(6, 4_000_000));
    let nginx = serve(&env, &[("slow/f", &v1)]);
    killed_midway(&env, &nginx);
    // Same size, new content and mtime: only nginx's ETag (mtime-size) tells them apart.
    let path = nginx.root.join("slow/f");
    std::fs::write(&path, &v2).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    env.run(&[&nginx.url("/slow/f")])
        .code(0)
        .stdout_has("(downloaded)");
    assert_file(&env.out().join("f"), &v2);
    let log = nginx.requests();
    assert!(
        log[1].starts_with("200 GET /slow/f bytes="),
        "If-Range made nginx send the new file: {log:?}"
    );
}
