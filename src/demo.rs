/*!
`fetchpool demo`: the main job on a built-in target. Starts a [`Server`] on a loopback port
that serves generated files behind an emulated wide-area link (a round-trip delay and a
per-connection bandwidth cap, so the gain of parallelism is real), runs compare mode against
it into a scratch directory, checks every file byte for byte, and removes what it made. Its
timeline picture is kept (see [`keep_timeline`]), so a new user sees why the pool is faster.
*/

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::Error;
use crate::fetch::partial::sha256_of;
use crate::job::{Spec, plan};
use crate::report::Summary;
use crate::run::Downloader;
use crate::server::{Reply, Server};
use crate::timeline::write_svg;

/// The demo's knobs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Number of files served.
    pub files: usize,
    /// Size of each file in bytes.
    pub size: usize,
    /// Emulated round-trip time.
    pub latency: Duration,
    /// Per-connection bandwidth cap, bytes per second.
    pub bandwidth: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            files: 16,
            size: 512 * 1024,
            latency: Duration::from_millis(50),
            bandwidth: 1024 * 1024,
        }
    }
}

/// Deterministic, incompressible content for demo file `i`.
pub fn content(i: usize, size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Run the demo with `config` (its `jobs` is the parallel phase's pool size). Per-file lines
/// go to `out`/`err` through the printer; returns the serial and parallel summaries.
///
/// # Errors
/// [`Error::Io`] when the server or the scratch directory cannot be set up,
/// [`Error::ChecksumMismatch`] when a downloaded file differs from what was served.
pub fn run_demo<W, E>(
    opts: &DemoOptions,
    config: Config,
    mut out: W,
    mut err: E,
) -> Result<(Summary, Option<Summary>), Error>
where
    W: Write + Send,
    E: Write + Send,
{
    let files: Arc<Vec<Vec<u8>>> =
        Arc::new((0..opts.files).map(|i| content(i, opts.size)).collect());
    let served = files.clone();
    let rate = opts.bandwidth;
    let server = Server::with_rtt(opts.latency, move |req| {
        let found = req
            .path
            .strip_prefix("/file")
            .and_then(|rest| rest.strip_suffix(".bin"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| served.get(n));
        match found {
            Some(c) => Reply::file(req, c, None, None).rate(Some(rate)),
            None => Reply::status(404),
        }
    })
    .map_err(|e| Error::io("127.0.0.1:0", e))?;
    let scratch = tempfile::Builder::new()
        .prefix("fetchpool-demo-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let specs = (0..opts.files).map(|i| Ok(Spec::url(server.url(&format!("/file{i}.bin")))));
    let plan = plan(specs, scratch.path());
    let _ = writeln!(
        out,
        "demo: {} files of {} from {} (round trip {} ms, {}/s per connection)",
        opts.files,
        crate::report::human_bytes(opts.size as u64),
        server.url("/"),
        opts.latency.as_millis(),
        crate::report::human_bytes(opts.bandwidth)
    );
    let cancel = config.cancel.clone();
    let downloader = Downloader::new(config)?;
    let (serial, parallel) = downloader.compare(&plan, &mut out, &mut err, false);
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok((serial, parallel));
    }
    for (job, expected) in plan.jobs.iter().zip(files.iter()) {
        let got = std::fs::read(&job.path).map_err(|e| Error::io(&job.path, e))?;
        if got != *expected {
            return Err(Error::ChecksumMismatch {
                url: job.display_url(),
                expected: sha256_of(&expected[..]).unwrap_or_default(),
                actual: sha256_of(&got[..]).unwrap_or_default(),
            });
        }
    }
    let _ = writeln!(
        out,
        "verified: {} files byte-identical to the server's",
        plan.jobs.len()
    );
    Ok((serial, parallel))
}

/// Write the timeline of `runs` into a new file in the temporary directory, which outlives
/// the demo's scratch directory, and return its path.
///
/// # Errors
/// [`Error::Io`] when the file cannot be created or written.
pub fn keep_timeline(runs: &[&Summary]) -> Result<PathBuf, Error> {
    let tmp = std::env::temp_dir();
    let file = tempfile::Builder::new()
        .prefix("fetchpool-demo-")
        .suffix(".svg")
        .tempfile()
        .map_err(|e| Error::io(&tmp, e))?;
    let (_, path) = file.keep().map_err(|e| Error::io(&tmp, e.error))?;
    write_svg(&path, runs)?;
    Ok(path)
}
