//! A real squid (Debian's package) on a free loopback port, with the stock access rules read
//! from the package's own /etc/squid/squid.conf, a throwaway config and logs in a temp dir,
//! stopped by PID on drop. Tests that use it fail (never skip) when squid is missing:
//! `scripts/test.sh` installs it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Squid {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// What to add to the stock configuration.
#[derive(Default)]
pub struct Options<'a> {
    /// Require Basic proxy authentication with this user and password
    /// (`basic_ncsa_auth` with a password file made by `openssl passwd`).
    pub login: Option<(&'a str, &'a str)>,
    /// Ports to which CONNECT is allowed besides 443 (the stock rules allow 443 only; a test
    /// server cannot listen there).
    pub ssl_ports: Vec<u16>,
}

fn binary() -> PathBuf {
    for p in ["/usr/sbin/squid", "/usr/local/sbin/squid"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("squid not found: run scripts/test.sh, which installs it (apt-get install squid)");
}

/// The `acl` and `http_access` lines of the package's configuration: its stock rules.
fn stock_rules() -> String {
    let conf = std::fs::read_to_string("/etc/squid/squid.conf")
        .expect("/etc/squid/squid.conf (from the squid package)");
    let rules: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("acl ") || l.starts_with("http_access "))
        .collect();
    assert!(
        rules
            .iter()
            .any(|l| l.starts_with("http_access deny CONNECT")),
        "unexpected stock squid.conf: {rules:?}"
    );
    rules.join("\n")
}

impl Squid {
    pub fn start(opts: Options) -> Squid {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.path().display();
        let root = unsafe { libc::geteuid() } == 0;
        let mut conf = format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log stdio:{d}/access.log\n\
             coredump_dir {d}\n\
             cache deny all\n\
             pinger_enable off\n\
             logfile_rotate 0\n\
             shutdown_lifetime 0 seconds\n\
             netdb_filename none\n"
        );
        if root {
            // squid will not run as root; its Debian user must reach our files.
            conf.push_str("cache_effective_user proxy\n");
        }
        for p in &opts.ssl_ports {
            conf.push_str(&format!("acl SSL_ports port {p}\n"));
        }
        if let Some((user, password)) = opts.login {
            let hash = Command::new("openssl")
                .args(["passwd", "-1", password])
                .output()
                .expect("openssl (scripts/test.sh installs it)");
            assert!(hash.status.success());
            let line = format!("{user}:{}", String::from_utf8(hash.stdout).unwrap());
            std::fs::write(dir.path().join("passwd"), line).unwrap();
            conf.push_str(&format!(
                "auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/passwd\n\
                 auth_param basic realm fetchpool-test\n\
                 acl authed proxy_auth REQUIRED\n\
                 http_access deny !authed\n"
            ));
        }
        conf.push_str(&stock_rules());
        conf.push('\n');
        let conf_path = dir.path().join("squid.conf");
        std::fs::write(&conf_path, conf).unwrap();
        if root {
            chown_to_proxy(dir.path());
        }
        let child = Command::new(binary())
            .args(["-N", "-f"])
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn squid");
        let mut s = Squid { port, dir, child };
        let dir = s.dir.path().to_path_buf();
        super::wait_listening(port, &mut s.child, "squid", Duration::from_secs(30), || {
            std::fs::read_to_string(dir.join("cache.log")).unwrap_or_default()
        });
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn cache_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cache.log")).unwrap_or_default()
    }

    /// Access log lines (squid's native format: `… CODE/STATUS BYTES METHOD URL USER …`).
    /// squid writes a line when a transaction ends: wait for `n` of them (bounded).
    pub fn access_log(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = std::fs::read_to_string(self.dir.path().join("access.log"))
                .unwrap_or_default()
                .lines()
                // The start-up probe: a connection that sent nothing.
                .filter(|l| !l.contains("error:transaction-end-before-headers"))
                .map(str::to_string)
                .collect();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn chown_to_proxy(dir: &Path) {
    let name = std::ffi::CString::new("proxy").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "no 'proxy' user (created by the squid package)"
    );
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let p =
            std::ffi::CString::new(entry.unwrap().path().as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::chown(p.as_ptr(), uid, gid) }, 0);
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        super::stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(10));
    }
}
