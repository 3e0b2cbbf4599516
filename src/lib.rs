/*!
fetchpool: a blocking thread-pool file downloader.

The pipeline, one file per step: [`job`] turns input into jobs with safe target paths;
[`fetch`] downloads one URL to one file (`download_url`), resuming and retrying without ever
leaving a wrong file at the final path; [`run`] maps that over a serial loop or a fixed rayon
pool and sends each result over a crossbeam channel; [`report`] is the printer at the other
end of the channel, and [`timeline`] draws what it counted. No async runtime anywhere.

```
use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader, Mode, Report, Spec, plan};

// A loopback server to download from (any http(s) URL works the same).
let server = Server::start(|req| Reply::file(req, b"hello", None, None))?;
let dir = tempfile::tempdir()?;

// One URL, one path, default settings.
let outcome = fetchpool::download_url((server.url("/a.txt"), dir.path().join("a.txt")))?;
assert_eq!(std::fs::read(&outcome.path)?, b"hello");
println!("{} bytes in {:?} ({})", outcome.size, outcome.elapsed, outcome.status);

// Many URLs on a pool of 4 threads, each result consumed as it completes.
let specs = ["/b.txt", "/c.txt"].map(|p| Ok(Spec::url(server.url(p))));
let plan = plan(specs, dir.path());
let downloader = Downloader::new(Config { jobs: 4, ..Config::default() })?;
let (tx, rx) = crossbeam_channel::unbounded::<Report>();
std::thread::scope(|s| {
    s.spawn(|| {
        for report in rx {
            println!("{}: ok = {}", report.label, report.result.is_ok());
        }
    });
    downloader.run(&plan, Mode::Parallel, &tx);
    drop(tx);
});
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

mod client;
pub mod config;
pub mod demo;
pub mod error;
pub mod fetch;
pub mod job;
pub mod report;
pub mod run;
pub mod server;
pub mod timeline;
pub mod timing;
pub mod url;

/// The README's examples are compiled with the doc tests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use config::{Config, Mode, Proxies, Secret};
pub use error::Error;
pub use fetch::{Outcome, Status};
pub use job::{Job, Plan, Spec, parse_input, plan};
pub use report::{Printer, Report, Summary};
pub use run::{Downloader, download_url};
pub use timing::Timing;
