/*!
The TCP connections under every request: ureq's own TCP connector, but with a liveness
check of one system call.

Why not ureq's: before it reuses a pooled connection, and again when it returns one to the
pool, ureq asks the socket whether the server closed it, by switching the socket to
non-blocking, reading, and switching it back: three system calls, twice per request. For a
list of small files that was a quarter of all system calls (4 `ioctl` and 2 failed `recvfrom`
per file). `recv(MSG_PEEK | MSG_DONTWAIT)` asks the same question in one call and consumes
nothing, and it is asked once per request: the check as the connection goes back to the pool,
right after its response was read, is answered "open" without asking, because the check
before its next use asks anyway (a close or unasked bytes in between are seen then; ureq
3.5 checks nowhere else, and a test in `client/mod.rs` holds it to that). A connection
spoiled as it went back thus waits in the pool until its next use finds it out.

Everything else (connecting to each resolved address in turn with a share of the connect
timeout, `TCP_NODELAY`, timeouts per read and per write, reads interrupted by a signal,
registering the socket so that the agent can shut it down) is done as ureq does it.
*/

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::Timeout;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// Opens plain TCP connections (the rest of the chain adds TLS, proxies, SOCKS).
#[derive(Debug, Default)]
pub(crate) struct Tcp;

impl<In: Transport> Connector<In> for Tcp {
    type Out = Either<In, Socket>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // A connection made earlier in the chain (a SOCKS proxy's) is the one to use.
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let config = details.config;
        let stream = connect_any(&details.addrs, details.timeout)?;
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let socket = Socket {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            read_since_check: false,
        };
        (details.register_shutdown)(Arc::downgrade(&socket.stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(Either::B(socket)))
    }
}

/// Each address in turn, as ureq does: the first gets about half the connect timeout and each
/// one that times out leaves the next half its own share (shares summing to the whole), at
/// least 10 ms each. An address that refuses or cannot be routed to hands over to the next
/// with its share intact (a host's IPv6 address on a machine without an IPv6 route must not
/// cost the IPv4 one time); any other error ends the attempt.
fn connect_any(addrs: &[SocketAddr], timeout: NextTimeout) -> Result<TcpStream, ureq::Error> {
    let start = Instant::now();
    let total = limit(&timeout);
    let whole = 2.0 * (1.0 - 0.5_f64.powi(addrs.len() as i32));
    let mut weight = 1.0_f64;
    let mut last = None;
    for addr in addrs {
        let share = total.map(|t| t.mul_f64(weight / whole).max(Duration::from_millis(10)));
        let result = match share {
            Some(share) => TcpStream::connect_timeout(addr, share),
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(stream) => return Ok(stream),
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                if total.is_some_and(|t| start.elapsed() > t) {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last = Some(ureq::Error::Timeout(Timeout::Connect));
                // Only an address that used up its share leaves less to the next ones.
                weight /= 2.0;
            }
            // Refused or unroutable at once: the next address gets the same share.
            Err(e) if only_this_address(&e) => last = Some(ureq::Error::Io(e)),
            Err(e) => return Err(ureq::Error::Io(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
    }))
}

/// A failed connect that says nothing about the host's other addresses (an IPv6 address
/// without an IPv6 route, say).
fn only_this_address(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

/// One TCP connection with its buffers. The stream is shared (weakly) with the agent, which
/// may shut it down from another thread; all I/O goes through `&TcpStream`.
pub(crate) struct Socket {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The timeouts set on the socket, so that an unchanged one costs no system call.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// A response was read since the last liveness check: the next check is ureq's as it
    /// returns the connection to the pool, which the check before the next use makes redundant.
    read_since_check: bool,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// Set `timeout` on the socket with `set` unless it is already the one in `current`.
fn keep_timeout(
    current: &mut Option<Duration>,
    timeout: Option<Duration>,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    if *current != timeout {
        set(timeout)?;
        *current = timeout;
    }
    Ok(())
}

/// The time left as a socket timeout (`None`: no limit).
fn limit(timeout: &NextTimeout) -> Option<Duration> {
    timeout.not_zero().map(|d| *d)
}

/// The remaining budget, or the timeout error when none is left.
fn budget(timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
    if timeout.after.is_zero() {
        Err(ureq::Error::Timeout(timeout.reason))
    } else {
        Ok(timeout)
    }
}

fn timed_out(e: io::Error, reason: Timeout) -> ureq::Error {
    match e.kind() {
        // A socket timeout shows as EAGAIN on Linux.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for Socket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = budget(timeout.for_write())?;
        let mut stream = &*self.stream;
        keep_timeout(&mut self.write_timeout, limit(&timeout), |t| {
            stream.set_write_timeout(t)
        })?;
        let output = &self.buffers.output()[..amount];
        stream
            .write_all(output)
            .map_err(|e| timed_out(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = budget(timeout.for_read())?;
        let limit = limit(&timeout);
        let mut stream = &*self.stream;
        keep_timeout(&mut self.read_timeout, limit, |t| {
            stream.set_read_timeout(t)
        })?;
        let started = Instant::now();
        let input = self.buffers.input_append_buf();
        let n = loop {
            match stream.read(input) {
                // Linux does not restart a socket read with a timeout after a signal: go on
                // with what is left of the timeout (without one, the caller sees the signal).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let Some(limit) = limit else {
                        return Err(ureq::Error::Io(e));
                    };
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    stream.set_read_timeout(Some(left))?;
                    self.read_timeout = Some(left);
                }
                result => break result.map_err(|e| timed_out(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(n);
        self.read_since_check = true;
        Ok(n > 0)
    }

    /// Open unless the server closed it or sent something unasked: one
    /// `recv(MSG_PEEK | MSG_DONTWAIT)`, which takes nothing off the socket. The first check
    /// after a read is ureq's on returning the connection to the pool, and is not made (see
    /// the module docs).
    fn is_open(&mut self) -> bool {
        if std::mem::take(&mut self.read_since_check) {
            // Going back to the pool: the check before the next use is the one that counts.
            return true;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer we own, on a socket we own, for the duration of the call.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            // Nothing to read and no end of stream: idle and open.
            -1 => io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock,
            // 0: the server closed it; >0: bytes no request asked for, so not reusable.
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn socket_to(listener: &TcpListener) -> Socket {
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Socket {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(1024, 1024),
            read_timeout: None,
            write_timeout: None,
            read_since_check: false,
        }
    }

    /// Whether `socket` stops counting as open after what the peer did. What the peer did
    /// arrives asynchronously, even on loopback: ask again, a while, asserting no time.
    fn turns_unusable(socket: &mut Socket) -> bool {
        for _ in 0..1000 {
            if !socket.is_open() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn an_idle_connection_is_open_and_a_closed_one_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut socket = socket_to(&listener);
        let (server, _) = listener.accept().unwrap();
        assert!(socket.is_open(), "idle and open");
        assert!(socket.is_open(), "asking again changes nothing");
        drop(server);
        assert!(
            turns_unusable(&mut socket),
            "a connection the server closed is not reused"
        );
    }

    #[test]
    fn a_close_after_a_response_is_seen_before_the_next_use() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut socket = socket_to(&listener);
        let (mut server, _) = listener.accept().unwrap();
        server
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        assert!(socket.await_input(NextTimeout::default()).unwrap());
        // ureq's check as the connection goes back to the pool, then the server closes.
        let _ = socket.is_open();
        drop(server);
        assert!(
            turns_unusable(&mut socket),
            "the check before the next use sees the close"
        );
    }

    #[test]
    fn unasked_bytes_make_a_connection_unusable_and_stay_unread() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut socket = socket_to(&listener);
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"x").unwrap();
        assert!(turns_unusable(&mut socket), "bytes nobody asked for");
        let mut byte = [0u8; 1];
        (&*socket.stream).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x", "the peek took nothing off the socket");
    }
}
