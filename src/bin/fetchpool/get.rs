/*!
The download run (`fetchpool URL...`, `fetchpool -i LIST`): checks the options, streams the
list through the planner into the pool, draws the bars, and prints the summary, the report
and the timeline. Compare mode keeps the whole plan to run it twice.
*/

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use fetchpool::job::{ensure_dir, parse_checksum};
use fetchpool::report::{compare_table, json_text, write_json};
use fetchpool::{Downloader, Mode, Naming, Plan, Planned, Planner, Printer, Shard, Spec, Summary};
use indicatif::MultiProgress;

use crate::cli::{GetArgs, ModeArg, ShardArg, ShardArgs};
use crate::config::{access, config};
use crate::exit_codes::Exit;
use crate::input_file::open_input;
use crate::output::{text_out, write_stdout, write_timeline};
use crate::progress::{self, AboveBars, Bars};
use crate::usage;

pub fn get(args: GetArgs, cancel: Arc<AtomicBool>, multi: &MultiProgress) -> anyhow::Result<Exit> {
    if args.urls.is_empty() && args.input_file.is_none() {
        usage("nothing to download: give URLs or --input-file FILE");
    }
    let sha256 = args.checksum.as_deref().map(|c| {
        if args.urls.len() != 1 || args.input_file.is_some() {
            usage("--checksum applies to exactly one URL; use sha256= fields in an input file");
        }
        parse_checksum(c).unwrap_or_else(|e| usage(format!("--checksum: {e}")))
    });
    if args.output.is_some() && (args.urls.len() != 1 || args.input_file.is_some()) {
        usage(
            "-o NAME names the file of a single URL; use -d DIR for a directory, or PATH in an input list",
        );
    }
    let mut config = config(&args.net, cancel.clone());
    config.force = args.force;
    config.update = args.update;
    access(&args.access, &mut config)?;
    ensure_dir(&args.output_dir).context("unusable output directory")?;
    check_writable(&args.output_dir)?;

    let shard = shard(&args.shards)?;
    let json = args.json.as_ref().map(|p| expand(p, shard));
    let timeline = args.timeline.as_ref().map(|p| expand(p, shard));
    let json_on_stdout = json.as_deref() == Some(Path::new("-"));
    let svg_on_stdout = timeline.as_deref() == Some(Path::new("-"));
    if json_on_stdout && svg_on_stdout {
        usage("--json - and --timeline - both want stdout; send one of them to a file");
    }
    let urls: Vec<_> = args
        .urls
        .iter()
        .map(|u| {
            Ok(Spec {
                sha256: sha256.clone(),
                path: args.output.clone(),
                ..Spec::url(u.as_str())
            })
        })
        .collect();
    // How many files the bars count to, when it is known before the list is read.
    let known = args.input_file.is_none().then_some(urls.len());
    let input = match &args.input_file {
        Some(path) => Some(open_input(path)?),
        None => None,
    };
    let naming = Naming {
        keep_paths: args.keep_paths,
        content_disposition: args.content_disposition,
    };
    // The list streams: it is read and planned while the first files download.
    let entries = Planner::new(&args.output_dir)
        .with_shard(shard)
        .with_naming(naming)
        .stream(urls.into_iter().chain(input.into_iter().flatten()));
    if args.dry_run {
        return Ok(dry_run(entries, &args.output_dir));
    }
    // Compare runs the list twice: the one mode that keeps the whole plan.
    let (plan, entries): (Option<Plan>, _) = match args.mode {
        ModeArg::Compare => (Some(entries.collect()), None),
        _ => (None, Some(entries)),
    };
    let mut downloader = Downloader::new(config)?;
    let bars = progress::target(args.progress, args.quiet).map(|target| {
        multi.set_draw_target(target);
        let files = match &plan {
            Some(p) => Some(p.jobs.len() * 2),
            None => known,
        };
        Arc::new(Bars::new(multi, files))
    });
    if let Some(bars) = &bars {
        downloader = downloader.with_observer(progress::Watch(bars.clone()));
    }
    let stdout_taken = svg_on_stdout || json_on_stdout;
    let above = |w| AboveBars::new(multi, w);
    let (mut out, mut err) = (above(text_out(stdout_taken)), above(Box::new(io::stderr())));
    let runs: Vec<Summary> = match (plan, entries) {
        (Some(plan), _) => {
            let (serial, parallel) = downloader.compare(&plan, &mut out, &mut err, args.quiet);
            std::iter::once(serial).chain(parallel).collect()
        }
        (None, entries) => {
            let mode = match args.mode {
                ModeArg::Serial => Mode::Serial,
                _ => Mode::Parallel,
            };
            // A record per entry only for what is drawn or written from them: without a
            // report or a timeline, memory does not grow with the list.
            let printer = Printer::new(
                above(text_out(stdout_taken)),
                above(Box::new(io::stderr())),
                args.quiet,
            )
            .records(json.is_some() || timeline.is_some());
            let entries = entries.into_iter().flatten();
            vec![downloader.run_stream_printed(entries, mode, printer)]
        }
    };
    if let Some(bars) = &bars {
        bars.finish();
    }
    let failed: usize = runs.iter().map(|s| s.failed).sum();
    let interrupted = cancel.load(Ordering::Relaxed);
    // Quiet: cron mails whatever a job prints, so a run that went well prints nothing.
    if !args.quiet || failed > 0 || interrupted {
        for s in &runs {
            let mode = s.mode.map_or(String::new(), |m| format!("{m}: "));
            let _ = writeln!(out, "{mode}{}", s.line());
        }
        if let [serial, parallel] = &runs[..] {
            let _ = write!(out, "\n{}", compare_table(serial, parallel));
        }
    }
    if let Some(path) = &args.access.save_cookies {
        downloader
            .save_cookies(path)
            .context("cannot save cookies")?;
    }
    if let Some(path) = &json {
        let runs: Vec<&Summary> = runs.iter().collect();
        if json_on_stdout {
            write_stdout(json_text(&runs, shard).as_bytes())
                .context("cannot write the JSON report")?;
        } else {
            write_json(path, &runs, shard).context("cannot write the JSON report")?;
        }
    }
    if let Some(dest) = &timeline {
        write_timeline(dest, &runs.iter().collect::<Vec<_>>())?;
    }
    Ok(Exit::of_run(failed, interrupted))
}

/// One fatal error for an output directory that cannot be written (a read-only mount, no
/// permission), instead of the same error once per file. The probe is a file created
/// exclusively under a name no download uses, and removed at once.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".fetchpool-probe-{}", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match made.and_then(|_| std::fs::remove_file(&probe)) {
        // Someone else's file of that name: the directory took a file before, good enough.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => {
            other.with_context(|| format!("output directory {} is not writable", dir.display()))
        }
    }
}

/// `--dry-run`: what would be downloaded, and every entry that would fail before a download,
/// as the list is read.
fn dry_run(entries: impl Iterator<Item = Planned>, dir: &Path) -> Exit {
    let mut err = io::stderr().lock();
    let (mut files, mut rejected) = (0, 0);
    for e in entries {
        match e {
            Planned::Job(_) => files += 1,
            Planned::Rejected(r) => {
                rejected += 1;
                let _ = writeln!(err, "error: {}", r.error);
            }
        }
    }
    let _ = writeln!(
        io::stdout(),
        "dry run: {files} files would be downloaded into {}, {rejected} entries rejected",
        dir.display(),
    );
    Exit::of_run(rejected, false)
}

/// `--shard`: as given, or from the array scheduler's environment.
fn shard(args: &ShardArgs) -> anyhow::Result<Option<Shard>> {
    match args.shard {
        None => Ok(None),
        Some(ShardArg::Fixed(s)) => {
            if args.shard_count.is_some_and(|n| n != s.count) {
                usage(format!(
                    "--shard-count {} disagrees with --shard {s}",
                    args.shard_count.unwrap_or(0)
                ));
            }
            Ok(Some(s))
        }
        Some(ShardArg::Auto) => Ok(Some(Shard::from_env(args.shard_count)?)),
    }
}

/// `%k` in a report's or a timeline's file name becomes the shard's index (0 unsharded).
fn expand(path: &Path, shard: Option<Shard>) -> PathBuf {
    let shard = shard.unwrap_or(Shard { index: 0, count: 1 });
    match path.to_str() {
        Some(text) => PathBuf::from(shard.expand(text)),
        None => path.to_path_buf(),
    }
}
