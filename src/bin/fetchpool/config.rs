/*!
The command line's options into a library [`Config`]: jobs, retries, timeouts, headers, and
the network access (trust, proxies, cookies, logins). The library never sees clap.
*/

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use fetchpool::config::parse_header;
use fetchpool::{Config, Proxies, Secret};

use crate::cli::{AccessArgs, NetArgs};
use crate::usage;

pub fn config(net: &NetArgs, cancel: Arc<AtomicBool>) -> Config {
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
pub fn access(a: &AccessArgs, config: &mut Config) -> anyhow::Result<()> {
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
