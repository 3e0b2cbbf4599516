//! Where files go: --keep-paths lays them out as the URL's host and folders (wget -x);
//! --content-disposition takes the server's name, made safe, never over another file.

use fetchpool::server::{Reply, Request, Server};

use crate::harness::*;

#[test]
fn keep_paths_keeps_same_named_files_of_different_folders_apart() {
    let env = Env::new();
    let server = static_server(vec![
        ("2023/data.csv", blob(120, 700)),
        ("2024/data.csv", blob(121, 800)),
    ]);
    let (a, b) = (server.url("/2023/data.csv"), server.url("/2024/data.csv"));
    // Without it the second is a duplicate target and fails before any download.
    env.run(&["--dry-run", &a, &b])
        .code(1)
        .stderr_has("data.csv");
    env.run(&["--keep-paths", &a, &b])
        .code(0)
        .stdout_has("2 ok");
    let host = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert_file(
        &env.out().join(&host).join("2023/data.csv"),
        &blob(120, 700),
    );
    assert_file(
        &env.out().join(&host).join("2024/data.csv"),
        &blob(121, 800),
    );
}

fn disposition_server(name: &'static str) -> Server {
    Server::start(move |req: &Request| {
        let seed = if req.path == "/one" { 122 } else { 123 };
        Reply::file(req, &blob(seed, 2000), Some("\"d\""), None).header(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        )
    })
    .unwrap()
}

#[test]
fn content_disposition_names_the_file_safely_inside_the_directory() {
    let env = Env::new();
    let server = disposition_server("../../escape/report 2024.csv");
    let url = server.url("/download?id=7");
    let run = env.run(&["--content-disposition", "--json", "r.json", &url]);
    run.code(0).stdout_has("report 2024.csv");
    assert_file(&env.out().join("report 2024.csv"), &blob(123, 2000));
    assert_eq!(env.listing(), ["report 2024.csv"]);
    assert_absent(&env.path("escape"));
    let json = std::fs::read_to_string(env.path("r.json")).unwrap();
    assert!(json.contains("report 2024.csv"), "{json}");
    // Without the flag the URL names it.
    env.run(&[&url]).code(0);
    assert_file(&env.out().join("download"), &blob(123, 2000));
}

#[test]
fn content_disposition_never_replaces_another_file() {
    let env = Env::new();
    let server = disposition_server("same.bin");
    // Two URLs, two different files, one server name: the second keeps its URL's name.
    env.run(&[
        "-j",
        "1",
        "--mode",
        "serial",
        "--content-disposition",
        &server.url("/one"),
        &server.url("/two"),
    ])
    .code(0);
    assert_file(&env.out().join("same.bin"), &blob(122, 2000));
    assert_file(&env.out().join("two"), &blob(123, 2000));
    // A rerun of the first finds its bytes already under the server's name: no copy.
    env.run(&["--content-disposition", &server.url("/one")])
        .code(0);
    let mut listing = env.listing();
    listing.sort();
    assert_eq!(listing, ["same.bin", "two"]);
}
