//! Shards (`--shard K/N`, `--shard auto`, `fetchpool report`) and the streaming plan.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fetchpool::{Planned, Planner, Shard, Spec};

use crate::harness::{Env, assert_file, blob, hits, static_server};

/// A list with nested paths, names from URLs, a duplicate, a `.part` collision, a bad URL
/// and a bad line: every kind of entry a shard can get.
fn list() -> Vec<Result<Spec, fetchpool::Error>> {
    let mut specs: Vec<_> = (0..120)
        .map(|i| {
            Ok(Spec {
                path: (i % 4 != 0).then(|| PathBuf::from(format!("d{}/f{i}", i % 5))),
                line: Some(i + 1),
                ..Spec::url(format!("http://h/n{i}"))
            })
        })
        .collect();
    let extra = [
        ("http://h/again", Some("d1/f1")),
        ("http://h/temp", Some("d2/f2.part")),
        ("ftp://h/x", None),
    ];
    for (url, path) in extra {
        let line = specs.len() + 1;
        specs.push(Ok(Spec {
            path: path.map(PathBuf::from),
            line: Some(line),
            ..Spec::url(url)
        }));
    }
    specs.push(Err(fetchpool::Error::BadLine {
        line: specs.len() + 1,
        reason: "junk".into(),
    }));
    specs
}

/// What a shard's planner yields, by entry: `job <path>` or `rejected <message>`.
fn entries(shard: Option<Shard>) -> Vec<String> {
    Planner::new("/out")
        .with_shard(shard)
        .stream(list())
        .map(|e| match e {
            Planned::Job(j) => format!("job {}", j.path.display()),
            Planned::Rejected(r) => format!("rejected {}", r.error),
        })
        .collect()
}

#[test]
fn shards_are_disjoint_and_complete_for_every_n_from_1_to_8() {
    let whole = entries(None);
    assert_eq!(whole.len(), 124);
    assert_eq!(
        whole.iter().filter(|e| e.starts_with("rejected")).count(),
        4
    );
    for n in 1..=8 {
        let mut owner: BTreeMap<String, u32> = BTreeMap::new();
        for k in 0..n {
            for e in entries(Some(Shard::new(k, n).unwrap())) {
                if let Some(other) = owner.insert(e.clone(), k) {
                    panic!("{e} is in shard {other} and shard {k} of {n}");
                }
            }
        }
        let union: Vec<_> = owner.keys().cloned().collect();
        let mut expected = whole.clone();
        expected.sort();
        assert_eq!(union, expected, "the {n} shards together are not the list");
        if n > 1 {
            let used = owner
                .values()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            assert_eq!(used as u32, n, "some of the {n} shards got nothing");
        }
    }
}

#[test]
fn every_shard_rejects_the_same_entries_naming_the_first_line() {
    let rejected = |shard| {
        entries(shard)
            .into_iter()
            .filter(|e| e.starts_with("rejected"))
            .collect::<Vec<_>>()
    };
    let mut merged: Vec<_> = (0..4)
        .flat_map(|k| rejected(Some(Shard::new(k, 4).unwrap())))
        .collect();
    merged.sort();
    let mut whole = rejected(None);
    whole.sort();
    assert_eq!(merged, whole);
    assert!(
        whole
            .iter()
            .any(|e| e.contains("target /out/d1/f1 is already used by line 2")),
        "{whole:?}"
    );
    assert!(
        whole
            .iter()
            .any(|e| e.contains("d2/f2.part is already used by line 3")),
        "{whole:?}"
    );
}

/// The binary, without `-o`: for subcommands.
fn bare(env: &Env) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fetchpool"));
    c.current_dir(env.dir.path()).env_remove("RUST_LOG");
    c
}

#[test]
fn sharded_runs_download_each_file_once_and_their_reports_merge() {
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("f{i}"), blob(i, 1000 + 37 * i)))
        .collect();
    let server = static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect());
    let env = Env::new();
    let list: String = files
        .iter()
        .map(|(n, _)| format!("{} sub/{n}\n", server.url(&format!("/{n}"))))
        .collect();
    let input = env.write("list.txt", &list);
    for k in 0..3 {
        let shard = format!("{k}/3");
        env.run(&[
            "-q",
            "-i",
            &input,
            "--shard",
            &shard,
            "--json",
            "report-%k.json",
        ])
        .code(0);
    }
    for (n, content) in &files {
        assert_file(&env.out().join("sub").join(n), content);
        assert_eq!(
            hits(&server, &format!("/{n}")).len(),
            1,
            "{n} fetched more than once"
        );
    }
    let reports: Vec<String> = (0..3).map(|k| format!("report-{k}.json")).collect();
    let merged = bare(&env).arg("report").args(&reports).output().unwrap();
    let stdout = String::from_utf8_lossy(&merged.stdout);
    assert_eq!(merged.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("3 of 3 shards: 12 ok (0 already complete), 0 failed"),
        "{stdout}"
    );

    let partial = bare(&env)
        .args(["report", &reports[0], &reports[2]])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&partial.stdout);
    assert_eq!(partial.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no report from shard 1"), "{stdout}");
}

#[test]
fn a_failed_entry_in_one_shard_fails_the_merged_report() {
    let server = static_server(vec![("a", blob(1, 100))]);
    let env = Env::new();
    let input = env.write(
        "list.txt",
        &format!("{}\n{}\n", server.url("/a"), server.url("/missing")),
    );
    for k in 0..2 {
        let shard = format!("{k}/2");
        env.run(&["-q", "-i", &input, "--shard", &shard, "--json", "r-%k.json"]);
    }
    let out = bare(&env)
        .args(["report", "r-0.json", "r-1.json"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 ok (0 already complete), 1 failed"),
        "{stdout}"
    );
    assert!(stderr.contains("/missing: HTTP 404"), "{stderr}");
}

#[test]
fn shard_auto_reads_the_scheduler_or_names_the_variables() {
    let server = static_server(vec![("a", blob(2, 10))]);
    let env = Env::new();
    let url = server.url("/a");
    let scheduler_vars = [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_STEP",
        "JOB_COMPLETION_INDEX",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "FETCHPOOL_SHARD_COUNT",
    ];
    let mut none = env.cmd();
    for v in scheduler_vars {
        none.env_remove(v);
    }
    let run = crate::harness::Run::from(none.args(["--shard", "auto", &url]).output().unwrap());
    run.code(2)
        .stderr_has("SLURM_ARRAY_TASK_ID")
        .stderr_has("JOB_COMPLETION_INDEX")
        .stderr_has("AWS_BATCH_JOB_ARRAY_INDEX");

    // One shard of one, from a Kubernetes Indexed Job's variable: it takes everything.
    let mut k8s = env.cmd();
    for v in scheduler_vars {
        k8s.env_remove(v);
    }
    k8s.env("JOB_COMPLETION_INDEX", "0")
        .env("FETCHPOOL_SHARD_COUNT", "1");
    let run = crate::harness::Run::from(
        k8s.args(["--shard", "auto", "--json", "k-%k.json", &url])
            .output()
            .unwrap(),
    );
    run.code(0);
    let report = std::fs::read_to_string(env.path("k-0.json")).unwrap();
    assert!(report.contains("\"count\": 1"), "{report}");
    assert_file(&env.out().join("a"), &blob(2, 10));
}

/// Wait for `path` to exist; a bound against a hang, not a measure of speed.
fn wait_for(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn downloads_start_while_the_list_is_still_being_read() {
    let server = static_server(vec![("first", blob(3, 500)), ("second", blob(4, 500))]);
    for mode in ["parallel", "serial"] {
        let env = Env::new();
        let mut child = env
            .cmd()
            .args(["--mode", mode, "-i", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", server.url("/first")).unwrap();
        stdin.flush().unwrap();
        // The list is not finished (stdin is open): the first file must arrive anyway.
        let arrived = wait_for(&env.out().join("first"));
        if !arrived {
            let _ = child.kill();
        }
        assert!(arrived, "{mode}: nothing downloaded before the list ended");
        writeln!(stdin, "{}", server.url("/second")).unwrap();
        drop(stdin);
        assert!(child.wait().unwrap().success());
        assert_file(&env.out().join("first"), &blob(3, 500));
        assert_file(&env.out().join("second"), &blob(4, 500));
    }
}

#[test]
fn a_duplicate_far_down_a_streamed_list_still_names_the_first_line() {
    let server = static_server(vec![("a", blob(5, 50))]);
    let env = Env::new();
    let mut list = format!("{} same\n", server.url("/a"));
    for i in 0..2000 {
        list += &format!("{} d/{i}\n", server.url("/nothing"));
    }
    list += &format!("{} same\n", server.url("/a"));
    let input = env.write("list.txt", &list);
    env.run(&["--dry-run", "-i", &input])
        .code(1)
        .stdout_has("dry run: 2001 files would be downloaded")
        .stderr_has("input line 2002: ")
        .stderr_has("is already used by line 1");
}
