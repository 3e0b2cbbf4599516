/*!
The `fetchpool` binary: parse the command line, build a library `Config`, run, print the
summary, and map the outcome to an exit code. Everything else lives in the library.
*/

mod cli;
mod exit_codes;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};

use cli::{
    AccessArgs, Cli, Command, DemoArgs, GetArgs, ModeArg, NetArgs, ReportArgs, ShardArg, ShardArgs,
};
use exit_codes::Exit;
use fetchpool::config::parse_header;
use fetchpool::demo::{DemoOptions, keep_timeline, run_demo};
use fetchpool::job::{ensure_dir, parse_checksum};
use fetchpool::report::{compare_table, merge, write_json};
use fetchpool::timeline;
use fetchpool::{
    Config, Downloader, Mode, Plan, Planned, Planner, Printer, Proxies, Secret, Shard, Spec,
    Summary, read_input,
};

fn main() -> ExitCode {
    init_logger();
    match run() {
        Ok(exit) => exit.into(),
        Err(err) => {
            // A closed stderr must not turn the exit status into a panic.
            let _ = writeln!(io::stderr(), "fetchpool: error: {}", causes(&err));
            Exit::Fatal.into()
        }
    }
}

/// The error and its causes, each said once (a cause whose text the message already ends
/// with is not repeated).
fn causes(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !msg.ends_with(&text) {
            if !msg.is_empty() {
                msg += ": ";
            }
            msg += &text;
        }
    }
    msg
}

/// env_logger as `RUST_LOG` says (warnings by default), except the HTTP and TLS libraries'
/// trace output: that is a dump of the bytes on the wire, headers and credentials included.
fn init_logger() {
    struct NoWireDump(env_logger::Logger);
    impl log::Log for NoWireDump {
        fn enabled(&self, m: &log::Metadata) -> bool {
            let wire = m.level() == log::Level::Trace
                && ["ureq", "rustls"].iter().any(|t| m.target().starts_with(t));
            !wire && self.0.enabled(m)
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                self.0.log(record);
            }
        }
        fn flush(&self) {
            self.0.flush();
        }
    }
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .format_timestamp_millis()
            .build();
    log::set_max_level(logger.filter());
    let _ = log::set_boxed_logger(Box::new(NoWireDump(logger)));
}

fn run() -> anyhow::Result<Exit> {
    let cli = parse_args();
    let cancel = Arc::new(AtomicBool::new(false));
    on_ctrl_c(cancel.clone());
    match cli.command {
        Some(Command::Demo(args)) => demo(&args, cancel),
        Some(Command::Report(args)) => report(&args),
        None => get(cli.get, cancel),
    }
}

/// First Ctrl-C: stop taking jobs, abort transfers between chunks, keep partials, print the
/// summary. Second Ctrl-C: leave at once.
fn on_ctrl_c(cancel: Arc<AtomicBool>) {
    let installed = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code().into());
        }
        let _ = writeln!(
            io::stderr(),
            "fetchpool: interrupted; keeping partial files (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = installed {
        log::warn!("cannot handle Ctrl-C: {e}");
    }
}

/// The command line, or exit: help and version to stdout, usage errors (exit 2) to stderr
/// with every URL's credentials hidden, since clap quotes the offending value.
fn parse_args() -> Cli {
    Cli::try_parse().unwrap_or_else(|e| clap_exit(e))
}

fn clap_exit(e: clap::Error) -> ! {
    let text = fetchpool::url::redact_text(&e.render().to_string());
    let _ = if e.use_stderr() {
        write!(io::stderr(), "{text}")
    } else {
        write!(io::stdout(), "{text}")
    };
    std::process::exit(e.exit_code())
}

/// A usage error found after parsing: clap's format and exit code 2.
fn usage(msg: impl std::fmt::Display) -> ! {
    clap_exit(Cli::command().error(clap::error::ErrorKind::ValueValidation, msg))
}

fn config(net: &NetArgs, cancel: Arc<AtomicBool>) -> Config {
    let headers = net
        .headers
        .iter()
        .map(|h| parse_header(h).unwrap_or_else(|e| usage(format!("--header: {e}"))))
        .collect();
    let defaults = Config::default();
    Config {
        jobs: net.jobs.map_or(defaults.jobs, usize::from),
        retries: net.retries,
        timeout: net.timeout,
        headers,
        user_agent: net.user_agent.clone().unwrap_or(defaults.user_agent),
        cancel,
        ..defaults
    }
}

/// The network options into `config`: trust, proxies, cookies, logins.
fn access(a: &AccessArgs, config: &mut Config) -> anyhow::Result<()> {
    config.ca_certificates = a.ca_certificate.clone();
    config.insecure = a.insecure;
    if a.insecure {
        let _ = writeln!(
            io::stderr(),
            "fetchpool: warning: --insecure: TLS certificates are not verified; anyone on the \
             path can read and change these downloads"
        );
    }
    config.proxies = match (&a.proxy, Proxies::from_env()) {
        (None, from_env) => from_env?,
        // The variables' proxies are overridden: a bad one does not matter then.
        (Some(_), from_env) => from_env.unwrap_or_default(),
    };
    if let Some(p) = &a.proxy {
        let proxy = Proxies::parse_proxy(p).unwrap_or_else(|e| usage(format!("--proxy: {e}")));
        config.proxies.http = proxy.clone();
        config.proxies.https = proxy;
    }
    if let Some(list) = &a.no_proxy {
        config.proxies.no_proxy = Proxies::parse_no_proxy(list);
    }
    config.cookie_files = a.load_cookies.clone();
    for c in &a.cookies {
        // As curl: with '=' it is cookie data, otherwise the name of a cookies file.
        if c.contains('=') {
            config.cookies.push(Secret::new(c.as_str()));
        } else {
            config.cookie_files.push(c.into());
        }
    }
    config.user = a.user.as_deref().map(Secret::new);
    config.netrc = match (&a.netrc_file, a.netrc) {
        (Some(file), _) => Some(file.clone()),
        (None, true) => {
            let home = std::env::var_os("HOME").context("--netrc: HOME is not set")?;
            Some(Path::new(&home).join(".netrc"))
        }
        (None, false) => None,
    };
    Ok(())
}

fn get(args: GetArgs, cancel: Arc<AtomicBool>) -> anyhow::Result<Exit> {
    if args.urls.is_empty() && args.input_file.is_none() {
        usage("nothing to download: give URLs or --input-file FILE");
    }
    let sha256 = args.checksum.as_deref().map(|c| {
        if args.urls.len() != 1 || args.input_file.is_some() {
            usage("--checksum applies to exactly one URL; use sha256= fields in an input file");
        }
        parse_checksum(c).unwrap_or_else(|e| usage(format!("--checksum: {e}")))
    });
    let mut config = config(&args.net, cancel.clone());
    config.force = args.force;
    access(&args.access, &mut config)?;
    ensure_dir(&args.output_dir).context("unusable output directory")?;
    check_writable(&args.output_dir)?;

    let shard = shard(&args.shards)?;
    let json = args.json.as_ref().map(|p| expand(p, shard));
    let timeline = args.timeline.as_ref().map(|p| expand(p, shard));
    let urls: Vec<_> = args
        .urls
        .iter()
        .map(|u| {
            Ok(Spec {
                sha256: sha256.clone(),
                ..Spec::url(u.as_str())
            })
        })
        .collect();
    let input = match &args.input_file {
        Some(path) => Some(open_input(path)?),
        None => None,
    };
    // The list streams: it is read and planned while the first files download.
    let entries = Planner::new(&args.output_dir)
        .with_shard(shard)
        .stream(urls.into_iter().chain(input.into_iter().flatten()));
    if args.dry_run {
        return Ok(dry_run(entries, &args.output_dir));
    }
    let downloader = Downloader::new(config)?;
    let svg_on_stdout = timeline.as_deref() == Some(Path::new("-"));
    let (mut out, mut err) = (text_out(svg_on_stdout), io::stderr());
    let runs: Vec<Summary> = match args.mode {
        ModeArg::Compare => {
            // Compare runs the list twice: the one mode that keeps the whole plan.
            let plan: Plan = entries.collect();
            let (serial, parallel) = downloader.compare(&plan, &mut out, &mut err, args.quiet);
            std::iter::once(serial).chain(parallel).collect()
        }
        single => {
            let mode = match single {
                ModeArg::Serial => Mode::Serial,
                _ => Mode::Parallel,
            };
            // A record per entry only for what is drawn or written from them: without a
            // report or a timeline, memory does not grow with the list.
            let printer = Printer::new(text_out(svg_on_stdout), io::stderr(), args.quiet)
                .records(json.is_some() || timeline.is_some());
            vec![downloader.run_stream_printed(entries, mode, printer)]
        }
    };
    for s in &runs {
        let mode = s.mode.map_or(String::new(), |m| format!("{m}: "));
        let _ = writeln!(out, "{mode}{}", s.line());
    }
    if let [serial, parallel] = &runs[..] {
        let _ = write!(out, "\n{}", compare_table(serial, parallel));
    }
    if let Some(path) = &args.access.save_cookies {
        downloader
            .save_cookies(path)
            .context("cannot save cookies")?;
    }
    if let Some(path) = &json {
        write_json(path, &runs.iter().collect::<Vec<_>>(), shard)
            .context("cannot write the JSON report")?;
    }
    if let Some(dest) = &timeline {
        write_timeline(dest, &runs.iter().collect::<Vec<_>>())?;
    }
    let failed = runs.iter().map(|s| s.failed).sum();
    Ok(Exit::of_run(failed, cancel.load(Ordering::Relaxed)))
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

/// Where lines of text go: stdout, unless stdout carries the SVG document (`--timeline -`).
fn text_out(svg_on_stdout: bool) -> Box<dyn Write + Send> {
    if svg_on_stdout {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    }
}

/// `--timeline FILE`, or the SVG alone on stdout for `-`.
fn write_timeline(dest: &Path, runs: &[&Summary]) -> anyhow::Result<()> {
    if dest != Path::new("-") {
        return timeline::write_svg(dest, runs).context("cannot write the timeline");
    }
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(timeline::render(runs).as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("cannot write the timeline to stdout"),
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

/// The input file as a stream of specs. A file that cannot be opened or read at all (a
/// directory) is a fatal error here; one that fails later is a failed entry naming it.
fn open_input(path: &Path) -> anyhow::Result<fetchpool::job::Input<Box<dyn BufRead + Send>>> {
    let (mut reader, name): (Box<dyn BufRead + Send>, &Path) = if path == Path::new("-") {
        (Box::new(BufReader::new(io::stdin())), Path::new("<stdin>"))
    } else {
        let file = File::open(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        (Box::new(BufReader::new(file)), path)
    };
    reader
        .fill_buf()
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    Ok(read_input(reader, name))
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

/// `fetchpool report FILES...`: the shards' reports merged into one summary and exit status.
fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let merged = merge(&args.files).context("cannot merge the reports")?;
    if !args.quiet {
        let mut err = io::stderr().lock();
        for (_, error) in &merged.failures {
            let _ = writeln!(err, "error: {error}");
        }
    }
    let _ = writeln!(io::stdout(), "{}", merged.line());
    Ok(if merged.complete() {
        Exit::Success
    } else {
        Exit::SomeFailed
    })
}

fn demo(args: &DemoArgs, cancel: Arc<AtomicBool>) -> anyhow::Result<Exit> {
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
