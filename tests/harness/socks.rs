//! A real SOCKS5 server (Dante, Debian's `dante-server`) on a free loopback port, with a
//! throwaway config in a temp dir, stopped by PID on drop. Tests that use it fail (never
//! skip) when it is missing: `scripts/test.sh` installs it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Socks {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Socks {
    pub fn start() -> Socks {
        let bin = "/usr/sbin/danted";
        assert!(
            Path::new(bin).exists(),
            "danted not found: run scripts/test.sh, which installs it (apt-get install dante-server)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.path().display();
        let users = if unsafe { libc::geteuid() } == 0 {
            "user.privileged: root\nuser.unprivileged: nobody\n"
        } else {
            ""
        };
        let conf = format!(
            "logoutput: {d}/danted.log\n\
             internal: 127.0.0.1 port = {port}\n\
             external: 127.0.0.1\n\
             socksmethod: none\n\
             clientmethod: none\n\
             {users}\
             client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
             socks pass {{\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: connect\n  log: connect\n}}\n"
        );
        let conf_path = dir.path().join("danted.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-f")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path().join("danted.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn danted");
        let mut s = Socks { port, dir, child };
        let dir = s.dir.path().to_path_buf();
        super::wait_listening(
            port,
            &mut s.child,
            "danted",
            Duration::from_secs(15),
            || std::fs::read_to_string(dir.join("danted.log")).unwrap_or_default(),
        );
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("danted.log")).unwrap_or_default()
    }

    /// Log lines of connections relayed to `port` (Dante writes `… -> 127.0.0.1.PORT`).
    pub fn relayed_to(&self, port: u16) -> usize {
        let needle = format!("127.0.0.1.{port}");
        self.log()
            .lines()
            .filter(|l| l.contains("tcp/connect [") && l.contains(&needle))
            .count()
    }
}

impl Drop for Socks {
    fn drop(&mut self) {
        super::stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(10));
    }
}
