/*!
`fetchpool demo`: generated files served on a loopback port behind an emulated slow link,
downloaded serially and in parallel, compared, and drawn as a timeline. Needs no network.
*/

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use fetchpool::demo::{DemoOptions, keep_timeline, run_demo};
use fetchpool::report::compare_table;
use fetchpool::{Config, Summary};

use crate::cli::DemoArgs;
use crate::exit_codes::Exit;
use crate::output::{text_out, write_timeline};

pub fn demo(args: &DemoArgs, cancel: Arc<AtomicBool>) -> anyhow::Result<Exit> {
    let opts = DemoOptions {
        files: args.files as usize,
        size: usize::try_from(args.size).context("--size is too large")?,
        latency: Duration::from_millis(args.latency),
        bandwidth: args.bandwidth,
    };
    let config = Config {
        jobs: args.jobs.into(),
        cancel: cancel.clone(),
        ..Config::default()
    };
    let svg_on_stdout = args.timeline.as_deref() == Some(Path::new("-"));
    let mut out = text_out(svg_on_stdout);
    let (serial, parallel) = run_demo(&opts, config, &mut out, io::stderr())?;
    let _ = writeln!(out, "serial: {}", serial.line());
    let mut failed = serial.failed;
    if let Some(p) = &parallel {
        let _ = writeln!(
            out,
            "parallel: {}\n\n{}",
            p.line(),
            compare_table(&serial, p)
        );
        failed += p.failed;
    }
    let runs: Vec<&Summary> = std::iter::once(&serial).chain(&parallel).collect();
    let path = match &args.timeline {
        Some(dest) => {
            write_timeline(dest, &runs)?;
            dest.clone()
        }
        None => keep_timeline(&runs).context("cannot write the demo's timeline")?,
    };
    if !svg_on_stdout {
        let _ = writeln!(out, "timeline: {} (open it in a browser)", path.display());
    }
    Ok(Exit::of_run(failed, cancel.load(Ordering::Relaxed)))
}
