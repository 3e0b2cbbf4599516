//! Update mode (-N): a present file is checked with a conditional request; 304 keeps it
//! without a body, a new version replaces it only once complete; modification times follow
//! Last-Modified.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use fetchpool::server::{Fault, Reply, Request, Server};

use crate::harness::*;

/// One remote file whose content, validators and fault can change between runs.
#[derive(Clone)]
struct Remote {
    content: Vec<u8>,
    etag: Option<String>,
    last_modified: &'static str,
    fault: Fault,
}

fn server(remote: &Arc<Mutex<Remote>>) -> Server {
    let remote = remote.clone();
    Server::start(move |req: &Request| {
        let r = remote.lock().unwrap().clone();
        let same_tag = r.etag.is_some() && req.header("if-none-match") == r.etag.as_deref();
        let same_time = req.header("if-modified-since") == Some(r.last_modified);
        if same_tag || (r.etag.is_none() && same_time) {
            return Reply::status(304);
        }
        Reply::file(req, &r.content, r.etag.as_deref(), Some(r.last_modified)).fault(r.fault)
    })
    .expect("server")
}

const MONDAY: &str = "Mon, 03 Mar 2025 10:00:00 GMT";
const TUESDAY: &str = "Tue, 04 Mar 2025 10:00:00 GMT";

fn mtime(path: &std::path::Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn remote(seed: usize, etag: Option<&str>, lm: &'static str) -> Arc<Mutex<Remote>> {
    Arc::new(Mutex::new(Remote {
        content: blob(seed, 50_000),
        etag: etag.map(str::to_string),
        last_modified: lm,
        fault: Fault::Normal,
    }))
}

#[test]
fn an_unchanged_file_gets_a_304_and_no_body() {
    let env = Env::new();
    let remote = remote(80, Some("\"one\""), MONDAY);
    let server = server(&remote);
    let url = server.url("/daily.csv");
    env.run(&[&url]).code(0);
    let file = env.out().join("daily.csv");
    assert_eq!(mtime(&file), httpdate::parse_http_date(MONDAY).unwrap());

    let run = env.run(&["-N", "--json", "r.json", &url]);
    run.code(0)
        .stdout_has("(unchanged)")
        .stdout_has("1 unchanged");
    let asked = hits(&server, "/daily.csv");
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].header("if-none-match"), Some("\"one\""));
    assert_file(&file, &blob(80, 50_000));
    assert_eq!(env.listing(), ["daily.csv"]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("r.json")).unwrap()).unwrap();
    let rec = &report["runs"][0]["files"][0];
    assert_eq!(
        (&rec["status"], &rec["received"]),
        (&"unchanged".into(), &0.into())
    );
}

#[test]
fn without_update_a_present_file_is_not_asked_about() {
    let env = Env::new();
    let remote = remote(81, Some("\"one\""), MONDAY);
    let server = server(&remote);
    let url = server.url("/daily.csv");
    env.run(&[&url]).code(0);
    remote.lock().unwrap().content = blob(82, 50_000);
    env.run(&[&url]).code(0).stdout_has("already complete");
    assert_eq!(hits(&server, "/daily.csv").len(), 1);
    assert_file(&env.out().join("daily.csv"), &blob(81, 50_000));
}

#[test]
fn a_changed_file_is_replaced_with_the_new_bytes_and_time() {
    let env = Env::new();
    let remote = remote(83, Some("\"one\""), MONDAY);
    let server = server(&remote);
    let url = server.url("/daily.csv");
    env.run(&[&url]).code(0);
    {
        let mut r = remote.lock().unwrap();
        r.content = blob(84, 70_000);
        r.etag = Some("\"two\"".into());
        r.last_modified = TUESDAY;
    }
    env.run(&["--update", &url])
        .code(0)
        .stdout_has("(downloaded)");
    let file = env.out().join("daily.csv");
    assert_file(&file, &blob(84, 70_000));
    assert_eq!(mtime(&file), httpdate::parse_http_date(TUESDAY).unwrap());
    assert_eq!(env.listing(), ["daily.csv"]);
    // The next update sends the new version's ETag, and is told nothing changed.
    env.run(&["--timestamping", &url])
        .code(0)
        .stdout_has("(unchanged)");
    let asked = hits(&server, "/daily.csv");
    assert_eq!(asked[2].header("if-none-match"), Some("\"two\""));
}

#[test]
fn a_new_version_cut_short_never_touches_the_old_file() {
    let env = Env::new();
    let remote = remote(85, Some("\"one\""), MONDAY);
    let server = server(&remote);
    let url = server.url("/daily.csv");
    env.run(&[&url]).code(0);
    {
        let mut r = remote.lock().unwrap();
        r.content = blob(86, 60_000);
        r.etag = Some("\"two\"".into());
        r.last_modified = TUESDAY;
        r.fault = Fault::CutAfter(20_000);
    }
    env.run(&["-N", "--retries", "0", &url]).code(1);
    let file = env.out().join("daily.csv");
    assert_file(&file, &blob(85, 50_000));
    assert_eq!(mtime(&file), httpdate::parse_http_date(MONDAY).unwrap());
    // The next run continues the new version from the partial and replaces the file.
    remote.lock().unwrap().fault = Fault::Normal;
    env.run(&["-N", &url]).code(0).stdout_has("(resumed)");
    assert_file(&file, &blob(86, 60_000));
    assert_eq!(env.listing(), ["daily.csv"]);
}

#[test]
fn without_an_etag_the_modification_time_is_asked_about() {
    let env = Env::new();
    let remote = remote(87, None, MONDAY);
    let server = server(&remote);
    let url = server.url("/plain.txt");
    env.run(&[&url]).code(0);
    env.run(&["-N", &url]).code(0).stdout_has("(unchanged)");
    let asked = hits(&server, "/plain.txt");
    assert_eq!(asked[1].header("if-modified-since"), Some(MONDAY));
    assert_eq!(asked[1].header("if-none-match"), None);
    // A newer upstream file: the time no longer matches and the new bytes come.
    {
        let mut r = remote.lock().unwrap();
        r.content = blob(88, 40_000);
        r.last_modified = TUESDAY;
    }
    env.run(&["-N", &url]).code(0).stdout_has("(downloaded)");
    assert_file(&env.out().join("plain.txt"), &blob(88, 40_000));
}

#[test]
fn nginx_answers_an_update_with_304_then_sends_a_new_version() {
    let env = Env::new();
    let root = env.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let upstream = root.join("report.csv");
    let set = |data: &[u8], when: &str| {
        std::fs::write(&upstream, data).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(&upstream)
            .unwrap();
        f.set_modified(httpdate::parse_http_date(when).unwrap())
            .unwrap();
    };
    set(&blob(89, 30_000), MONDAY);
    let nginx = crate::harness::nginx::Nginx::start(&root);
    let url = nginx.url("/report.csv");
    env.run(&[&url]).code(0);
    let file = env.out().join("report.csv");
    assert_eq!(mtime(&file), httpdate::parse_http_date(MONDAY).unwrap());
    env.run(&["-N", &url]).code(0).stdout_has("(unchanged)");
    set(&blob(90, 45_000), TUESDAY);
    env.run(&["-N", &url]).code(0).stdout_has("(downloaded)");
    assert_file(&file, &blob(90, 45_000));
    assert_eq!(mtime(&file), httpdate::parse_http_date(TUESDAY).unwrap());
    let statuses: Vec<String> = nginx
        .requests()
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["200", "304", "200"]);
}

#[test]
fn an_update_question_answered_503_is_asked_again_and_changes_nothing() {
    let env = Env::new();
    let data = blob(91, 20_000);
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (d, n) = (data.clone(), asked.clone());
    let server = Server::start(move |req: &Request| {
        if req.header("if-none-match").is_some() {
            // The first question meets a busy server; the second is answered.
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Reply::status(503).header("Retry-After", "0");
            }
            return Reply::status(304);
        }
        Reply::file(req, &d, Some("\"one\""), Some(MONDAY))
    })
    .unwrap();
    let url = server.url("/f");
    env.run(&[&url]).code(0);
    let run = env.run(&["-N", "--json", "r.json", &url]);
    run.code(0).stdout_has("(unchanged)");
    assert_file(&env.out().join("f"), &data);
    assert_eq!(env.listing(), ["f"]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("r.json")).unwrap()).unwrap();
    assert_eq!(report["runs"][0]["files"][0]["attempts"], 2);
}

/// In a directory of many files, whether a partial sits beside a file comes from one reading
/// of the directory, not a `statx` per file: a new version cut short beside the 31st of 40
/// files is still found there and continued (not asked about first), and the other 39 get
/// their 304s.
#[test]
fn a_partial_among_many_files_is_found_and_continued() {
    let env = Env::new();
    let remotes: Vec<_> = (0..40)
        .map(|i| remote(200 + i, Some("\"one\""), MONDAY))
        .collect();
    let served = remotes.clone();
    let server = Server::start(move |req: &Request| {
        let i: usize = req.path.trim_start_matches("/f").parse().unwrap();
        let r = served[i].lock().unwrap().clone();
        if r.etag.is_some() && req.header("if-none-match") == r.etag.as_deref() {
            return Reply::status(304);
        }
        Reply::file(req, &r.content, r.etag.as_deref(), Some(r.last_modified)).fault(r.fault)
    })
    .expect("server");
    let urls: Vec<String> = (0..40).map(|i| server.url(&format!("/f{i}"))).collect();
    let list = env.write("list.txt", &urls.join("\n"));
    env.run(&["-i", &list]).code(0);
    {
        let mut r = remotes[30].lock().unwrap();
        r.content = blob(300, 60_000);
        r.etag = Some("\"two\"".into());
        r.last_modified = TUESDAY;
        r.fault = Fault::CutAfter(20_000);
    }
    env.run(&["-N", "--retries", "0", &urls[30]]).code(1);
    assert!(env.out().join("f30.part").exists(), "{:?}", env.listing());
    remotes[30].lock().unwrap().fault = Fault::Normal;
    let before = server.requests().len();
    let run = env.run(&["-N", "-j", "1", "-i", &list]);
    run.code(0).stdout_has("f30  (resumed)");
    // The partial was seen: the one request for f30 continues it (no question first).
    let asked: Vec<_> = server.requests()[before..]
        .iter()
        .filter(|r| r.path == "/f30")
        .map(|r| {
            (
                r.header("range").is_some(),
                r.header("if-none-match").is_some(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [(true, false)],
        "requests for f30: (range, if-none-match)"
    );
    assert_eq!(run.stdout.matches("(unchanged)").count(), 39, "{run}");
    for i in 0..40 {
        let expected = if i == 30 {
            blob(300, 60_000)
        } else {
            blob(200 + i, 50_000)
        };
        assert_file(&env.out().join(format!("f{i}")), &expected);
    }
    assert!(!env.out().join("f30.part").exists());
}

/// Another run starts the same file's new version just after this one looked for a partial
/// (here: while the server answers this run's question). This run waits for that run, then
/// asks again about the file the other run put in place, and gets a 304: it neither keeps
/// the first reply waiting nor downloads the new version a second time.
#[test]
fn a_run_that_waited_for_another_asks_again_instead_of_downloading_twice() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let remote = remote(90, Some("\"one\""), MONDAY);
    // The other run's partial, locked while it "writes" it.
    let other: Arc<Mutex<Option<std::fs::File>>> = Arc::default();
    let part = env.out().join("daily.csv.part");
    let server = {
        let (remote, other, part) = (remote.clone(), other.clone(), part.clone());
        Server::start(move |req: &Request| {
            let r = remote.lock().unwrap().clone();
            if req.header("if-none-match") == r.etag.as_deref() {
                return Reply::status(304);
            }
            if req.header("if-none-match") == Some("\"one\"") {
                let file = std::fs::File::create(&part).unwrap();
                file.lock().unwrap();
                *other.lock().unwrap() = Some(file);
            }
            Reply::file(req, &r.content, r.etag.as_deref(), Some(r.last_modified))
        })
        .expect("server")
    };
    let url = server.url("/daily.csv");
    env.run(&[&url]).code(0);
    {
        let mut r = remote.lock().unwrap();
        r.content = blob(91, 60_000);
        r.etag = Some("\"two\"".into());
        r.last_modified = TUESDAY;
    }
    let run = env
        .cmd()
        .args(["-N", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once this run holds the other's partial open, it is waiting for its lock.
    let fds = format!("/proc/{}/fd", run.id());
    let waiting = || {
        std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|t| t.as_os_str().as_bytes().ends_with(b"daily.csv.part"))
            })
    };
    let start = std::time::Instant::now();
    while !waiting() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the run never opened the other's partial"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The other run finishes: the new version, its ETag, renamed into place, lock released.
    let file = other.lock().unwrap().take().unwrap();
    std::io::Write::write_all(&mut &file, &blob(91, 60_000)).unwrap();
    let attr = format!("\"two\"\n{url}");
    // SAFETY: a valid descriptor, a NUL-terminated name, and a buffer with its length.
    let rc = unsafe {
        libc::fsetxattr(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            c"user.fetchpool.etag".as_ptr(),
            attr.as_ptr().cast(),
            attr.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "user xattrs on the test's file system");
    std::fs::rename(&part, env.out().join("daily.csv")).unwrap();
    drop(file);
    let out = run.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(unchanged)"), "{stdout}");
    assert_file(&env.out().join("daily.csv"), &blob(91, 60_000));
    assert_eq!(env.listing(), ["daily.csv"]);
    let asked: Vec<_> = server
        .requests()
        .iter()
        .skip(1)
        .map(|r| r.header("if-none-match").map(str::to_string))
        .collect();
    assert_eq!(
        asked,
        [Some("\"one\"".to_string()), Some("\"two\"".to_string())],
        "asked with the old version's ETag, then with the new one's"
    );
}
