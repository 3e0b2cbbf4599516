/*!
The `fetchpool` binary: parse the command line, build a library `Config`, run, print the
summary, and map the outcome to an exit code. Everything else lives in the library.
*/

mod cli;
mod exit_codes;
mod logging;
mod peers;
mod progress;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
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
use fetchpool::report::{compare_table, json_text, merge, write_json};
use fetchpool::timeline;
use indicatif::{MultiProgress, ProgressDrawTarget};
use progress::{AboveBars, Bars};

use fetchpool::{
    Config, Downloader, Mode, Naming, Plan, Planned, Planner, Printer, Proxies, Secret, Shard,
    Spec, Summary, read_input,
};

fn main() -> ExitCode {
    let cli = parse_args();
    let verbose = match &cli.command {
        None => cli.get.verbose,
        Some(_) => 0,
    };
    // Hidden until `get` knows whether to draw: then every line of text goes above the bars.
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    logging::init(verbose, &multi);
    match run(cli, &multi) {
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

fn run(cli: Cli, multi: &MultiProgress) -> anyhow::Result<Exit> {
    let cancel = Arc::new(AtomicBool::new(false));
    on_ctrl_c(cancel.clone());
    match cli.command {
        Some(Command::Demo(args)) => demo(&args, cancel),
        Some(Command::Report(args)) => report(&args),
        Some(Command::Completions { shell }) => {
            write_stdout(&cli::completions(shell)).context("cannot write the completions")?;
            Ok(Exit::Success)
        }
        Some(Command::Man) => {
            write_stdout(&cli::man()?).context("cannot write the manual page")?;
            Ok(Exit::Success)
        }
        None => get(cli.get, cancel, multi),
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
    Cli::try_parse().unwrap_or_else(|e| clap_exit(with_pointer(e)))
}

/// An unknown flag that curl, wget or aria2c users type from habit gets the fetchpool way.
fn with_pointer(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return e;
    }
    let reported = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // `-nv` reaches clap as `-n`: the word as typed is looked up too.
    let typed = std::env::args().skip(1).take_while(|a| a != "--");
    let found = reported
        .into_iter()
        .chain(typed.filter(|a| a.starts_with('-')))
        .find_map(|a| peers::pointer(&a).map(|hint| (a, hint)));
    match found {
        Some((arg, hint)) => Cli::command().error(
            ErrorKind::UnknownArgument,
            format!("fetchpool has no '{arg}': {hint}"),
        ),
        None => e,
    }
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
        split: net.split.into(),
        min_split_size: net.min_split_size,
        timeout: net.timeout,
        headers,
        user_agent: net.user_agent.clone().unwrap_or(defaults.user_agent),
        max_per_host: net.max_per_host.map(usize::from),
        limit_rate: net.limit_rate,
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

fn get(args: GetArgs, cancel: Arc<AtomicBool>, multi: &MultiProgress) -> anyhow::Result<Exit> {
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
    write_stdout(timeline::render(runs).as_bytes()).context("cannot write the timeline to stdout")
}

/// A document alone on stdout (`--timeline -`, `--json -`); a closed pipe is a normal end.
fn write_stdout(doc: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(doc).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
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
fn open_input(
    path: &Path,
) -> anyhow::Result<fetchpool::job::Input<BufReader<Box<dyn Read + Send>>>> {
    let stdin = path == Path::new("-");
    let (source, name): (Box<dyn Read + Send>, &Path) = if stdin {
        (Box::new(io::stdin()), Path::new("<stdin>"))
    } else {
        let file = File::open(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        (Box::new(file), path)
    };
    let mut reader = BufReader::new(source);
    reader
        .fill_buf()
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    let input = read_input(reader, name);
    // A file is read at once; stdin may be a list still being written.
    Ok(if stdin {
        input.streamed(|r: &BufReader<_>| !r.buffer().is_empty() || stdin_ready())
    } else {
        input
    })
}

/// Whether reading stdin would return at once (data or end of file), without waiting.
fn stdin_ready() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, its count, and a zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0
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
