//! Results as they arrive, failures included: one bad URL, one missing file and one second
//! entry for the same file fail alone; the others are downloaded. The exit status says
//! whether every file is in place. `cargo run --example stream`

use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start(|req| match req.path.as_str() {
        "/missing.bin" => Reply::status(404),
        _ => Reply::file(req, b"some bytes", None, None),
    })?;
    let dir = tempfile::tempdir()?;
    let pairs = [
        (server.url("/a.bin"), dir.path().join("a.bin")),
        (server.url("/missing.bin"), dir.path().join("missing.bin")),
        (
            "ftp://example.org/c.bin".to_string(),
            dir.path().join("c.bin"),
        ),
        (server.url("/b.bin"), dir.path().join("b.bin")),
        (server.url("/b-again.bin"), dir.path().join("b.bin")),
    ];
    let downloader = Downloader::new(Config::default())?;
    let (mut ok, mut failed) = (0, 0);
    for result in downloader.parallel(pairs) {
        match result {
            Ok(done) => {
                ok += 1;
                println!(
                    "ok     {} -> {} ({})",
                    done.url,
                    done.path.display(),
                    done.status
                );
            }
            Err(e) => {
                failed += 1;
                println!("failed {e}");
            }
        }
    }
    println!("{ok} ok, {failed} failed");
    // What this example is for: three failures, reported alongside the two files.
    assert_eq!((ok, failed), (2, 3));
    Ok(())
}
