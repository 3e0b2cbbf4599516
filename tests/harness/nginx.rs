//! A real nginx on a free loopback port, serving a scratch directory. Tests that use it fail
//! (never skip) when nginx is missing: `scripts/test.sh` installs it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub root: PathBuf,
    pub port: u16,
    /// `http`, or `https` when started with a certificate.
    pub scheme: &'static str,
    prefix: tempfile::TempDir,
    child: Child,
}

pub fn binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx not found: run scripts/test.sh, which installs it (apt-get install nginx-light)");
}

impl Nginx {
    /// Start nginx serving `root` (a directory of the caller's). `/slow/` is capped at
    /// 2 MB/s per connection, `/gz/` gzips when asked, `/gzstatic/` always sends the `.gz`
    /// beside a file; the access log records each request's connection serial.
    pub fn start(root: &Path) -> Nginx {
        Nginx::start_with(root, None, "")
    }

    /// Start nginx speaking TLS with `cert` and `key` (PEM files), plus `extra` lines in its
    /// `server` block (e.g. locations that redirect).
    pub fn start_tls(root: &Path, cert: &Path, key: &Path, extra: &str) -> Nginx {
        Nginx::start_with(root, Some((cert, key)), extra)
    }

    fn start_with(root: &Path, tls: Option<(&Path, &Path)>, extra: &str) -> Nginx {
        let prefix = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let p = prefix.path().display();
        // As root, nginx's workers would run as `nobody`, who may not reach a scratch
        // directory under a strict umask; otherwise they already run as us.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let (ssl, certs) = match tls {
            Some((cert, key)) => (
                " ssl",
                format!(
                    "ssl_certificate {};\n        ssl_certificate_key {};",
                    cert.display(),
                    key.display()
                ),
            ),
            None => ("", String::new()),
        };
        let conf = format!(
            r#"{user}
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format conn '$connection $status $request_method $uri $http_range';
    access_log {p}/access.log conn;
    client_body_temp_path {p}/tmp_body;
    proxy_temp_path {p}/tmp_proxy;
    fastcgi_temp_path {p}/tmp_fastcgi;
    uwsgi_temp_path {p}/tmp_uwsgi;
    scgi_temp_path {p}/tmp_scgi;
    keepalive_requests 100000;
    sendfile on;
    server {{
        listen 127.0.0.1:{port}{ssl};
        {certs}
        root {root};
        location /slow/ {{ limit_rate 2m; }}
        # Compresses every type, for clients that ask for it.
        location /gz/ {{ gzip on; gzip_types *; gzip_min_length 0; limit_rate 2m; }}
        # Pre-compressed files sent gzipped whatever the client asks, Range over the
        # compressed bytes: what S3 does for objects stored with Content-Encoding: gzip.
        location /gzstatic/ {{ gzip_static always; limit_rate 2m; }}
        {extra}
    }}
}}
"#,
            root = root.display()
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(binary())
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(prefix.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nginx");
        let n = Nginx {
            root: root.to_path_buf(),
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            prefix,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(n.prefix.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// nginx's error log (at level info: TLS handshake failures are there).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("error.log")).unwrap_or_default()
    }

    /// Access log lines: `connection status method uri range`.
    pub fn access_log(&self) -> Vec<String> {
        // nginx writes the log line after the response; give it a moment.
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read_to_string(self.prefix.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Access log lines without the connection serial: `status method uri range`.
    pub fn requests(&self) -> Vec<String> {
        self.access_log()
            .iter()
            .map(|l| {
                l.split_once(' ')
                    .map_or(l.clone(), |(_, rest)| rest.to_string())
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        super::stop_child(&mut self.child, libc::SIGQUIT, Duration::from_secs(5));
    }
}
