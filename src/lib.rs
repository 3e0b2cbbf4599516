/*!
fetchpool: a blocking thread-pool file downloader.

The classic program zips URLs with file names, downloads them in a plain loop, then maps the
same function over a thread pool (`ThreadPool(cpu_count() - 1).imap_unordered`) and prints
each result as it arrives. With fetchpool it reads the same, and stays blocking:

```
# let server = fetchpool::server::Server::start(|r| fetchpool::server::Reply::file(r, b"data", None, None))?;
# let dir = tempfile::tempdir()?;
use std::time::Instant;
use fetchpool::{Config, Downloader};

let urls: Vec<String> = (1..=4).map(|i| server.url(&format!("/file{i}.bin"))).collect();
let names: Vec<_> = (1..=4).map(|i| dir.path().join(format!("downloads/file{i}.bin"))).collect();
// A pool of CPU count minus one threads (never below 2), built once.
let downloader = Downloader::new(Config::default())?;

let start = Instant::now();
for result in downloader.serial(urls.iter().zip(&names)) {
    let done = result?;
    println!("{} took {:.2?}", done.url, done.elapsed);
}
println!("serial: {:.2?}", start.elapsed());

let start = Instant::now();
for result in downloader.parallel(urls.iter().zip(&names)) {
    match result {
        Ok(done) => println!("{} took {:.2?} ({})", done.url, done.elapsed, done.status),
        Err(e) => eprintln!("{e}"),
    }
}
println!("parallel: {:.2?}", start.elapsed());
# Ok::<(), Box<dyn std::error::Error>>(())
```

(The second loop finds every file complete and makes no request: see "Files on disk".
[`download_url`] is the single download, `download_url((url, path))`.)

## The pipeline
One file per step: [`job`] turns input into jobs with safe target paths ([`url`] parses,
redacts and names), [`mod@plan`] as a stream while the list is read ([`shard`] keeps one
machine's share); [`fetch`] downloads one URL to one file, resuming and retrying without
ever leaving a wrong file at the final path; [`run`] maps that over a serial loop or a fixed
rayon pool and sends each result ([`Report`]) over a crossbeam channel, or hands results out
as an iterator ([`run::results`]); [`report`] is the printer at the other end of the channel,
and [`timeline`] draws what it counted. An [`Observer`] watches jobs as they run (progress).
No async runtime anywhere: everything blocks, on threads you can count.

For the channel itself, [`Downloader::run`] sends each [`Report`] to a
`crossbeam_channel::Sender` (the crate is re-exported as [`channel`]).

## Files on disk
- Missing directories of a target path are created when its download starts.
- A file already at its final path counts as complete: no request is made, and it is
  reported as [`Status::AlreadyComplete`] (with [`Config::force`] it is downloaded again; with
  a checksum that does not match, too).
- Bytes go to `<file>.part` (its validators to `<file>.part.meta`) and only a complete file
  is renamed into place. A partial left by an earlier run is continued with a validated
  `Range` request; one that cannot be continued safely is restarted, never spliced.
- fetchpool never overwrites, truncates or deletes a file it did not create.

## Features
`cli` (default) builds the command-line tool and pulls its crates (clap, env_logger, ctrlc,
anyhow) and `demo` (the built-in loopback server and `fetchpool demo`). An embedding program
uses `default-features = false`: the library alone, blocking, with ureq, rayon and
crossbeam-channel.
*/
#![deny(missing_docs)]

mod client;
pub mod config;
#[cfg(feature = "demo")]
#[doc(hidden)]
pub mod demo;
pub mod error;
pub mod fetch;
pub mod input;
pub mod job;
mod listing;
pub mod observe;
pub mod plan;
pub mod report;
pub mod run;
#[cfg(feature = "demo")]
#[doc(hidden)]
pub mod server;
pub mod shard;
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
pub use job::{Job, Naming, Plan, Spec, parse_input, plan, plan_pairs, plan_with, read_input};
pub use observe::{Observer, Quiet};
pub use plan::{Planned, Planner};
pub use report::{Printer, Report, Summary};
pub use run::results::Results;
pub use run::{Downloader, download_url};
pub use shard::Shard;

/// The channel crate of [`Downloader::run`], so that `fetchpool::channel::unbounded()` is all
/// an embedding program needs.
pub use crossbeam_channel as channel;
pub use timing::{Segment, Timing};
