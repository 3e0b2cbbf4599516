/*!
The command line, and nothing else: clap definitions and value parsers. `config.rs` turns the
parsed [`Cli`] into a library [`fetchpool::Config`]; nothing below here sees clap.
*/

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Download many files on a fixed pool of blocking threads.
#[derive(Debug, Parser)]
#[command(
    name = "fetchpool",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_long_help = "Exit status: 0 every file is in place (already complete and unchanged count); \
1 some file failed; 2 usage or fatal error; 130 interrupted (partial files are kept).\n\n\
Environment: RUST_LOG (log detail), NO_COLOR (no colour in the progress bars), http_proxy, \
https_proxy, ALL_PROXY, NO_PROXY (proxies), SSL_CERT_FILE and SSL_CERT_DIR (trusted CAs)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub get: GetArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve generated files on a loopback port behind an emulated slow link, download them
    /// serially and in parallel, and print the comparison. Needs no network.
    Demo(DemoArgs),
    /// Merge the JSON reports of a sharded job (`--shard ... --json report-%k.json`) into one
    /// summary; exit 0 only if every shard reported and every entry of every shard is in
    /// place.
    Report(ReportArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    /// For example: fetchpool completions bash > ~/.local/share/bash-completion/completions/fetchpool
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): fetchpool man > fetchpool.1; man ./fetchpool.1
    Man,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The shards' JSON reports.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print only the summary line, not each failed entry.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--shard K/N` or `--shard auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// From the array scheduler's environment.
    Auto,
    /// As given.
    Fixed(fetchpool::Shard),
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    if s == "auto" {
        return Ok(ShardArg::Auto);
    }
    fetchpool::Shard::parse(s)
        .map(ShardArg::Fixed)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One file after the other.
    Serial,
    /// Files on the worker pool.
    Parallel,
    /// Serial, then parallel, each a full fresh download, and a comparison table.
    Compare,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// URLs to download (http or https).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read jobs from FILE ('-' for stdin): one `URL [MIRROR...] [PATH] [sha256=HEX]` per
    /// line ("quoted" when a field has blanks); blank lines and '#' comments are ignored.
    /// aria2c lists work too: TAB-separated mirrors, indented out=, dir=, checksum=, header=.
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// Directory for downloads, created when missing; relative PATHs are relative to it
    /// (-P as wget, --output-dir as curl).
    #[arg(
        short = 'd',
        long = "dir",
        short_alias = 'P',
        aliases = ["output-dir", "directory-prefix"],
        value_name = "DIR",
        default_value = "."
    )]
    pub output_dir: PathBuf,

    /// The file name of the single URL given, under the output directory (as curl and
    /// aria2c -o).
    #[arg(short = 'o', long = "output", value_name = "NAME")]
    pub output: Option<PathBuf>,

    /// Accepted for habit's sake: resume is always on (a partial file is continued when the
    /// server proves it is the same version, and restarted otherwise).
    #[arg(short = 'c', long = "continue")]
    pub continue_: bool,
    /// The URL's host and directories become folders under the output directory (as
    /// wget -x), so same-named files from different folders do not collide.
    #[arg(long)]
    pub keep_paths: bool,

    /// Name files as the server's Content-Disposition says (as wget and curl -J), made safe
    /// and kept in the file's directory; never over an existing file.
    #[arg(long)]
    pub content_disposition: bool,

    /// How to run the list.
    #[arg(long, value_enum, default_value_t = ModeArg::Parallel)]
    pub mode: ModeArg,

    /// Update mode: ask the server whether each file already present changed (If-None-Match
    /// with its ETag, else If-Modified-Since with its modification time); 304 keeps it,
    /// a new version replaces it atomically. Without it a present file counts as complete.
    #[arg(short = 'N', long, alias = "timestamping")]
    pub update: bool,

    /// Download again files that already exist (and discard partial files).
    #[arg(long)]
    pub force: bool,

    /// Expected checksum of the single URL given, as sha256=HEX.
    #[arg(long, value_name = "ALGO=HEX")]
    pub checksum: Option<String>,

    /// Parse and plan only: report bad lines and duplicate targets, download nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write a machine-readable report to FILE; '-' writes it to stdout, and every line of
    /// text then goes to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Draw the run as an SVG timeline (one lane per worker) into FILE; '-' writes it to
    /// stdout, and every line of text then goes to stderr.
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    pub timeline: Option<PathBuf>,

    /// Print nothing on success: only errors, and the summary when something failed.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Live progress on stderr: auto (when stderr is a terminal), always, never. Off with -q;
    /// no colour when NO_COLOR is set.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub progress: crate::progress::When,

    /// More detail: how each download went (-v), and every request (-vv). RUST_LOG, when
    /// set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub shards: ShardArgs,

    #[command(flatten)]
    pub net: NetArgs,

    #[command(flatten, next_help_heading = "Network: TLS, proxies, cookies, logins")]
    pub access: AccessArgs,
}

/// Trust, proxies, sessions and logins. Secrets given here never appear in any output.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Trust the CA certificates of this PEM file, in addition to the system store
    /// (repeatable). SSL_CERT_FILE and SSL_CERT_DIR, when set, replace the system store.
    #[arg(long, visible_alias = "cacert", value_name = "FILE")]
    pub ca_certificate: Vec<PathBuf>,

    /// Do not verify TLS certificates (dangerous: anyone on the path can read and change the
    /// downloads). Prints a warning.
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Proxy for http and https URLs, e.g. http://proxy.example:3128 (also https, socks5 and
    /// socks5h proxies; USER:PASSWORD@ before the host is sent to the proxy only). Overrides
    /// http_proxy, https_proxy and ALL_PROXY; "" means no proxy.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Hosts reached without the proxy, comma-separated: names (with their subdomains), IP
    /// addresses or CIDR ranges, optionally with :PORT, or '*'. Overrides NO_PROXY.
    #[arg(long, visible_alias = "noproxy", value_name = "LIST")]
    pub no_proxy: Option<String>,

    /// Load cookies from a Netscape cookies.txt file (repeatable).
    #[arg(long, value_name = "FILE")]
    pub load_cookies: Vec<PathBuf>,

    /// Cookies 'name=value; name2=value2' for the hosts of the URLs given, or a cookies.txt
    /// file when there is no '=' (repeatable).
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub cookies: Vec<String>,

    /// Write all cookies of the run (loaded and received) to FILE at the end, in the
    /// cookies.txt format (created private, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub save_cookies: Option<PathBuf>,

    /// Basic-auth credentials for the hosts of the URLs given (never sent after a redirect
    /// to another host).
    #[arg(short = 'u', long, value_name = "USER[:PASSWORD]")]
    pub user: Option<String>,

    /// Read credentials from ~/.netrc (each entry is sent to its own host only).
    #[arg(long)]
    pub netrc: bool,

    /// Read credentials from this netrc file.
    #[arg(long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,
}

/// One machine's share of a list run by many (a scheduler's array job).
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Take only shard K of N (0-based) of the list, chosen by a hash of each entry's
    /// target path; 'auto' reads K and N from Slurm, Kubernetes Indexed Job or AWS Batch
    /// array variables. '%k' in --json and --timeline becomes K.
    #[arg(long, value_name = "K/N|auto", value_parser = parse_shard)]
    pub shard: Option<ShardArg>,

    /// The number of shards for --shard auto, where the scheduler does not tell it
    /// (Kubernetes, AWS Batch) [env: FETCHPOOL_SHARD_COUNT].
    #[arg(long, value_name = "N", requires = "shard", value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_count: Option<u32>,
}

#[derive(Debug, Args)]
pub struct NetArgs {
    /// Worker threads [default: CPU count minus one, at least 2].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Fetch a large file as up to N ranges at once, on the same pool: its ranges are taken
    /// by workers with no file left to start, and a free worker takes over half of the
    /// largest range still running. Only when the server honours Range, gives the length
    /// and sends the file unencoded; otherwise one stream.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub split: u16,

    /// Smallest range a split file is cut into (bytes, or with a K/M/G suffix).
    #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = parse_size)]
    pub min_split_size: u64,

    /// Retries after a failed attempt (network errors, truncated bodies, 408/429/5xx).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Connect and idle-read timeout in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub timeout: Duration,

    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// User-Agent header.
    #[arg(short = 'A', long, value_name = "UA")]
    pub user_agent: Option<String>,

    /// At most N transfers in flight to one host across the whole pool (politeness).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_per_host: Option<u16>,

    /// Cap the total download rate of the run, in bytes per second: 500K, 2M (K = 1024).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub limit_rate: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of files.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub files: u32,

    /// Size of each file (bytes, or with a K/M suffix).
    #[arg(long, default_value = "512K", value_parser = parse_size)]
    pub size: u64,

    /// Emulated round-trip time in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub latency: u64,

    /// Bandwidth cap per connection in bytes per second (K/M suffix allowed).
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub bandwidth: u64,

    /// Worker threads of the parallel phase.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// Write the SVG timeline into FILE ('-': stdout, text to stderr) instead of a new file
    /// in the temporary directory.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

/// The completion script for `shell`, generated from the definitions above.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "fetchpool", &mut out);
    out
}

/// The manual page (roff), generated from the definitions above.
pub fn man() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("{s:?}: expected seconds between 0 and 86400"))
    }
}

/// `512`, `512K`, `8M`, `1G` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.trim().char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("{s:?}: unknown unit {c:?} (use K, M or G)")),
            };
            (&s.trim()[..i], mult)
        }
        _ => (s.trim(), 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("{s:?}: expected a size above zero")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_seconds_parse() {
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("3"), Ok(3));
        assert!(parse_size("0").is_err() && parse_size("1X").is_err());
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("0").is_err() && parse_secs("nan").is_err());
    }

    #[test]
    fn network_options_have_their_own_heading() {
        let help = Cli::command().render_help().to_string();
        let at = help
            .find("Network: TLS, proxies, cookies, logins")
            .expect("heading");
        for flag in [
            "--ca-certificate",
            "--insecure",
            "--proxy",
            "--no-proxy",
            "--load-cookies",
            "--cookie",
            "--save-cookies",
            "--user",
            "--netrc",
            "--netrc-file",
        ] {
            assert!(help[at..].contains(flag), "{flag} not under the heading");
        }
        let cli = Cli::try_parse_from(["fetchpool", "--cacert", "a.pem", "-k", "http://h/x"]);
        let access = cli.unwrap().get.access;
        assert!(access.insecure && access.ca_certificate == [PathBuf::from("a.pem")]);
    }

    #[test]
    fn shards_parse_as_k_of_n_or_auto() {
        let shards = |args: &[&str]| {
            let mut all = vec!["fetchpool"];
            all.extend(args);
            Cli::try_parse_from(all).map(|c| c.get.shards)
        };
        let s = shards(&["--shard", "1/4", "http://h/x"]).unwrap();
        assert_eq!(
            s.shard,
            Some(ShardArg::Fixed(fetchpool::Shard::new(1, 4).unwrap()))
        );
        let s = shards(&["--shard", "auto", "--shard-count", "3", "http://h/x"]).unwrap();
        assert_eq!((s.shard, s.shard_count), (Some(ShardArg::Auto), Some(3)));
        assert!(shards(&["--shard", "4/4", "http://h/x"]).is_err());
        assert!(shards(&["--shard-count", "3", "http://h/x"]).is_err());
    }

    #[test]
    fn zero_jobs_is_a_usage_error() {
        assert!(Cli::try_parse_from(["fetchpool", "-j", "0", "http://h/x"]).is_err());
        assert!(Cli::try_parse_from(["fetchpool", "demo", "-j", "0"]).is_err());
    }
}
