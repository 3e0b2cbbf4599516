/*!
Habits from curl, wget and aria2c: flags those tools have and fetchpool does not, each with
a pointer to the fetchpool way. Consulted only when clap rejects an argument, so a flag
fetchpool does have is never shadowed by an entry here.
*/

/// The fetchpool way for a flag of curl, wget or aria2c that fetchpool does not accept.
/// `arg` is the argument as typed (`--tries=3`, `-L`); `None` when it is no known habit.
pub fn pointer(arg: &str) -> Option<&'static str> {
    let flag = arg.split_once('=').map_or(arg, |(f, _)| f);
    let hint = match flag {
        // curl
        "-L" | "--location" => "redirects are always followed (at most 10)",
        "-O" | "--remote-name" | "--remote-name-all" => {
            "files are named from the URL by default (curl -O); for a name of your own use \
             -o NAME (wget -O is fetchpool -o)"
        }
        "--output-document" => "use -o NAME (a single URL) or PATH in an input list",
        "-J" | "--remote-header-name" => "use --content-disposition",
        "-R" | "--remote-time" => {
            "files always get the server's Last-Modified as their modification time"
        }
        "-z" | "--time-cond" => "use -N (--update): a conditional request per existing file",
        "-s" | "--silent" | "--no-verbose" | "-nv" => "use -q",
        "-S" | "--show-error" => "errors are always shown",
        "-f" | "--fail" => "HTTP errors always fail the file and set the exit status",
        "-Z" | "--parallel" => "downloads are parallel by default (-j N workers)",
        "--parallel-max" => "use -j N",
        "--retry" | "-t" | "--tries" | "--max-tries" => "use --retries N",
        "-m" => "curl -m is --timeout SECS; wget -m: fetchpool does not crawl",
        "--connect-timeout" | "-T" | "--max-time" | "--read-timeout" => {
            "use --timeout SECS (connect and idle-read)"
        }
        "-x" => "curl -x is --proxy URL; wget -x is --keep-paths; aria2c -x is --max-per-host N",
        "--compressed" => "gzip bodies are always decoded, and never resumed by range",
        "--create-dirs" => "missing directories are always created",
        "-#" | "--progress-bar" | "--show-progress" => "use --progress always",
        // wget
        "-nc" | "--no-clobber" => "existing files are never downloaded again (unless --force)",
        "--no-check-certificate" => "use -k (--insecure)",
        "-U" => "use -A UA (--user-agent)",
        "--force-directories" | "--protocol-directories" => "use --keep-paths",
        "-nd" | "--no-directories" => "files go flat into the output directory by default",
        "--max-overall-download-limit" => "use --limit-rate RATE",
        "-r" | "--recursive" | "--mirror" => {
            "fetchpool downloads the URLs it is given; it does not crawl"
        }
        "--background" => "run it in the background from your shell (or cron)",
        // aria2c
        "--conditional-get" => "use -N (--update)",
        "--allow-overwrite" => "use --force",
        "--check-certificate" => "use -k (--insecure) to skip verification",
        "--max-concurrent-downloads" => "use -j N",
        "--max-connection-per-server" => "use --max-per-host N",
        "--split" | "--min-split-size" => {
            "each file is one connection; parallelism is across files (-j N)"
        }
        "--auto-file-renaming" => "an existing file is kept, never renamed",
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn habits_get_the_fetchpool_way() {
        assert!(pointer("-L").unwrap().contains("always followed"));
        assert!(pointer("--tries=3").unwrap().contains("--retries"));
        assert!(pointer("--conditional-get").unwrap().contains("-N"));
        assert!(pointer("--no-such-flag").is_none());
    }
}
