/*!
A small HTTP/1.1 server on a loopback port, for the built-in demo and for the test suite.
Each request goes to a handler that returns a [`Reply`]; a reply can emulate a wide-area
link (round-trip delay, per-connection bandwidth cap) or misbehave on purpose (cut the body,
stall, send chunked or close-delimited bodies), which real servers will not do on demand.
One thread per connection, keep-alive, no dependencies: it serves a handful of clients.
*/

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A request as the handler sees it. Header names are lowercase.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request target, e.g. `/file1.bin?x=1`.
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (give it lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the body is sent; anything but `Normal` is a fault for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Content-Length and the whole body.
    Normal,
    /// Content-Length of the whole body, then only the first N bytes and a closed connection.
    CutAfter(usize),
    /// `Transfer-Encoding: chunked`, the whole body and the terminator.
    Chunked,
    /// Chunked, but the connection closes after N body bytes, mid-chunk, no terminator.
    ChunkedCutAfter(usize),
    /// No length at all: the body ends when the connection closes.
    CloseDelimited,
    /// Content-Length of the whole body, N bytes, then silence until the server stops.
    StallAfter(usize),
}

/// What to send back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers besides Content-Length / Transfer-Encoding.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How to send it.
    pub fault: Fault,
    /// Bandwidth cap in bytes per second for this response.
    pub rate: Option<u64>,
}

impl Reply {
    /// An empty reply with `status`.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            fault: Fault::Normal,
            rate: None,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Send the body with `fault`.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// Cap the response at `bytes_per_sec`.
    pub fn rate(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.rate = bytes_per_sec;
        self
    }

    /// Serve `content` the way a correct static file server does: `Accept-Ranges`, the given
    /// validators, `Range: bytes=N-` / `bytes=N-M` answered with 206 (or 416 past the end),
    /// and `If-Range` honoured (a range is only served when it matches `etag` or
    /// `last_modified`).
    pub fn file(
        req: &Request,
        content: &[u8],
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Reply {
        let total = content.len();
        let mut r = Reply::status(200).header("Accept-Ranges", "bytes");
        if let Some(e) = etag {
            r = r.header("ETag", e);
        }
        if let Some(l) = last_modified {
            r = r.header("Last-Modified", l);
        }
        let if_range_ok = req
            .header("if-range")
            .is_none_or(|v| Some(v) == etag || Some(v) == last_modified);
        let range = req
            .header("range")
            .filter(|_| if_range_ok)
            .and_then(parse_range);
        match range {
            Some((first, _)) if first >= total => {
                r.status = 416;
                r.header("Content-Range", format!("bytes */{total}"))
            }
            Some((first, last)) => {
                let last = last.unwrap_or(total - 1).min(total - 1);
                r.status = 206;
                r.header("Content-Range", format!("bytes {first}-{last}/{total}"))
                    .body(&content[first..=last])
            }
            None => r.body(content),
        }
    }
}

fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let first = a.trim().parse().ok()?;
    let last = match b.trim() {
        "" => None,
        b => Some(b.parse().ok()?),
    };
    Some((first, last))
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Start on `127.0.0.1:0` with no link emulation.
    ///
    /// # Errors
    /// When the listening socket cannot be bound.
    pub fn start(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> io::Result<Server> {
        Server::with_rtt(Duration::ZERO, handler)
    }

    /// Start with a round-trip delay: one `rtt` per new connection (the TCP handshake) and one
    /// before every response (request out, response back).
    ///
    /// # Errors
    /// When the listening socket cannot be bound.
    pub fn with_rtt(
        rtt: Duration,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (handler, stop, requests) =
                        (handler.clone(), stop.clone(), requests.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, rtt, &*handler, &stop, &requests);
                    });
                }
            })
        };
        Ok(Server {
            addr,
            stop,
            requests,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    conn: TcpStream,
    rtt: Duration,
    handler: &Handler,
    stop: &AtomicBool,
    requests: &Mutex<Vec<Request>>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.set_nodelay(true)?;
    std::thread::sleep(rtt);
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if let Ok(mut r) = requests.lock() {
            r.push(req.clone());
        }
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = handler(&req);
        std::thread::sleep(rtt);
        if !send(&mut out, &req, &reply, stop)? || close {
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let mut req = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers: Vec::new(),
    };
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(Some(req));
        }
        if let Some((n, v)) = l.split_once(':') {
            req.headers
                .push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// Send `reply`; returns whether the connection may be reused.
fn send(out: &mut TcpStream, req: &Request, reply: &Reply, stop: &AtomicBool) -> io::Result<bool> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (n, v) in &reply.headers {
        head += &format!("{n}: {v}\r\n");
    }
    let len = reply.body.len();
    match reply.fault {
        Fault::Chunked | Fault::ChunkedCutAfter(_) => head += "Transfer-Encoding: chunked\r\n",
        Fault::CloseDelimited => head += "Connection: close\r\n",
        _ => head += &format!("Content-Length: {len}\r\n"),
    }
    head += "\r\n";
    out.write_all(head.as_bytes())?;
    if req.method == "HEAD" {
        return Ok(reply.fault != Fault::CloseDelimited);
    }
    let body = &reply.body[..];
    match reply.fault {
        Fault::Normal => paced(out, body, reply.rate).map(|_| true),
        Fault::CutAfter(n) => paced(out, &body[..n.min(len)], reply.rate).map(|_| false),
        Fault::CloseDelimited => paced(out, body, reply.rate).map(|_| false),
        Fault::Chunked => {
            for chunk in body.chunks(4096) {
                write!(out, "{:x}\r\n", chunk.len())?;
                out.write_all(chunk)?;
                out.write_all(b"\r\n")?;
            }
            out.write_all(b"0\r\n\r\n")?;
            Ok(true)
        }
        Fault::ChunkedCutAfter(n) => {
            write!(out, "{:x}\r\n", len)?;
            out.write_all(&body[..n.min(len)])?;
            Ok(false)
        }
        Fault::StallAfter(n) => {
            out.write_all(&body[..n.min(len)])?;
            out.flush()?;
            let until = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(false)
        }
    }
}

/// Write `data`, no faster than `rate` bytes per second when set.
fn paced(out: &mut TcpStream, data: &[u8], rate: Option<u64>) -> io::Result<()> {
    let Some(rate) = rate.filter(|r| *r > 0) else {
        return out.write_all(data);
    };
    let start = Instant::now();
    let step = (rate / 50).clamp(1024, 64 * 1024) as usize;
    let mut sent = 0usize;
    for chunk in data.chunks(step) {
        out.write_all(chunk)?;
        sent += chunk.len();
        let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(range: Option<&str>, if_range: Option<&str>) -> Request {
        let mut headers = Vec::new();
        if let Some(r) = range {
            headers.push(("range".to_string(), r.to_string()));
        }
        if let Some(r) = if_range {
            headers.push(("if-range".to_string(), r.to_string()));
        }
        Request {
            method: "GET".into(),
            path: "/".into(),
            headers,
        }
    }

    #[test]
    fn file_replies_honour_range_and_if_range() {
        let c = b"0123456789";
        let r = Reply::file(&get(Some("bytes=4-"), None), c, Some("\"a\""), None);
        assert_eq!((r.status, &r.body[..]), (206, &b"456789"[..]));
        let r = Reply::file(
            &get(Some("bytes=4-"), Some("\"b\"")),
            c,
            Some("\"a\""),
            None,
        );
        assert_eq!((r.status, r.body.len()), (200, 10));
        let r = Reply::file(&get(Some("bytes=10-"), None), c, None, None);
        assert_eq!(r.status, 416);
        assert!(
            r.headers
                .contains(&("Content-Range".into(), "bytes */10".into()))
        );
    }
}
