//! A deadline on HTTP request heads, before any handler runs. axum's server (hyper without a
//! timer) waits forever for a request head, so a peer that connects and sends nothing, or
//! dribbles a header a byte at a time, would hold its socket and buffers for good: no connection
//! limit sees it, since those count WebSockets at the upgrade.
//!
//! [`HeadDeadlineListener`] wraps every accepted socket in a [`HeadDeadlineStream`] that fails
//! the read (hyper then drops the connection) when a request head is not complete in time: the
//! first one within the deadline from the accept; on a keep-alive connection, the next head's
//! first byte within the deadline from the last response byte written (an idle keep-alive
//! connection is closed, as most servers do), and that head within the deadline from its first
//! byte. The stream tells heads from the rest by watching the bytes:
//! a head ends with an empty line; a final response written next ends the request (hyper has
//! read its body by then), and a `101` response hands the socket to the WebSocket, after which
//! nothing is watched. A zero deadline turns it off.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, Instant, Sleep};

/// The end of a request head.
const HEAD_END: &[u8] = b"\r\n\r\n";
/// The start of the response that switches to the WebSocket protocol.
const SWITCHING: &[u8] = b"HTTP/1.1 101";
/// The start of an informational response (`100 Continue`): the request goes on.
const INFORMATIONAL: &[u8] = b"HTTP/1.1 1";

/// Accepts like a `TcpListener`, each socket under a head deadline.
#[derive(Debug)]
pub struct HeadDeadlineListener {
    inner: TcpListener,
    deadline: Duration,
}

impl HeadDeadlineListener {
    /// `deadline`: the time a request head may take (zero: no limit).
    pub fn new(inner: TcpListener, deadline: Duration) -> Self {
        HeadDeadlineListener { inner, deadline }
    }
}

impl axum::serve::Listener for HeadDeadlineListener {
    type Io = HeadDeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (HeadDeadlineStream::new(tcp, self.deadline), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where the connection is, as far as the deadline is concerned.
#[derive(Debug)]
enum Phase {
    /// Reading a request head: `matched` bytes of [`HEAD_END`] seen last. The deadline runs
    /// from the accept (the first head); after a response, while `idle` (no byte of the next
    /// head yet), from the last byte written, and then from the head's first byte.
    Head {
        deadline: Pin<Box<Sleep>>,
        matched: usize,
        idle: bool,
    },
    /// The head is in; its body and the response are the handler's business.
    Request,
    /// A WebSocket now: nothing to watch.
    Upgraded,
}

#[derive(Debug)]
pub struct HeadDeadlineStream {
    tcp: TcpStream,
    limit: Duration,
    phase: Phase,
    /// The waker of the last read left pending: a deadline armed by a write is polled only by a
    /// read, and hyper, its read already pending, would otherwise not read again until bytes
    /// come (an idle keep-alive connection would never time out).
    reader: Option<Waker>,
}

impl HeadDeadlineStream {
    fn new(tcp: TcpStream, limit: Duration) -> Self {
        let phase = if limit.is_zero() {
            Phase::Upgraded
        } else {
            Phase::Head {
                deadline: Box::pin(sleep(limit)),
                matched: 0,
                idle: false,
            }
        };
        HeadDeadlineStream {
            tcp,
            limit,
            phase,
            reader: None,
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Follows the bytes just read through the head's end.
    fn on_read(&mut self, bytes: &[u8]) {
        let Phase::Head {
            deadline,
            matched,
            idle,
        } = &mut self.phase
        else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        if *idle {
            *idle = false;
            deadline.as_mut().reset(Instant::now() + self.limit);
        }
        for &byte in bytes {
            *matched = match (byte, *matched) {
                (b'\r', 0 | 2) | (b'\n', 1 | 3) => *matched + 1,
                (b'\r', _) => 1,
                _ => 0,
            };
            if *matched == HEAD_END.len() {
                // Bytes after the end (a pipelined request, a body) are the request's.
                self.phase = Phase::Request;
                return;
            }
        }
    }

    /// Follows the start of a response being written; the rest of it keeps an idle keep-alive
    /// connection's deadline from running out while it is still being written.
    fn on_write(&mut self, bytes: &[u8]) {
        if let Phase::Head {
            deadline,
            idle: true,
            ..
        } = &mut self.phase
        {
            deadline.as_mut().reset(Instant::now() + self.limit);
            return;
        }
        if matches!(self.phase, Phase::Request) && bytes.starts_with(b"HTTP/1.") {
            self.phase = if bytes.starts_with(SWITCHING) {
                Phase::Upgraded
            } else if bytes.starts_with(INFORMATIONAL) {
                Phase::Request
            } else {
                if let Some(reader) = self.reader.take() {
                    reader.wake();
                }
                Phase::Head {
                    deadline: Box::pin(sleep(self.limit)),
                    matched: 0,
                    idle: true,
                }
            };
        }
    }
}

impl AsyncRead for HeadDeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled = buf.filled().len();
        let result = Pin::new(&mut self.tcp).poll_read(cx, buf);
        match result {
            Poll::Ready(Ok(())) => {
                self.on_read(buf.filled().get(filled..).unwrap_or_default());
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if !matches!(self.phase, Phase::Upgraded) {
                    self.reader = Some(cx.waker().clone());
                }
                if let Phase::Head { deadline, .. } = &mut self.phase {
                    // Polled here so the timer wakes this read when the time is up.
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the request head did not arrive in time",
                        )));
                    }
                }
                Poll::Pending
            }
            error => error,
        }
    }
}

impl AsyncWrite for HeadDeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.on_write(bytes);
        Pin::new(&mut self.tcp).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            self.on_write(first);
        }
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Phase {
        Phase::Head {
            deadline: Box::pin(sleep(Duration::from_secs(1))),
            matched: 0,
            idle: false,
        }
    }

    #[tokio::test]
    async fn heads_requests_and_the_upgrade_are_told_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (_client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (tcp, _) = accepted.expect("accept");
        let mut stream = HeadDeadlineStream::new(tcp, Duration::from_secs(1));
        // The end of the head split across reads.
        stream.on_read(b"GET / HTTP/1.1\r\nHost: x\r");
        assert!(matches!(stream.phase, Phase::Head { matched: 1, .. }));
        stream.on_read(b"\n\r");
        assert!(matches!(stream.phase, Phase::Head { matched: 3, .. }));
        stream.on_read(b"\n");
        assert!(matches!(stream.phase, Phase::Request));
        // A response: the connection is idle until the next head's first byte, its clock
        // running from the last byte written, then from that first byte.
        stream.on_write(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(stream.phase, Phase::Head { idle: true, .. }));
        stream.on_write(b"the rest of the body");
        assert!(matches!(stream.phase, Phase::Head { idle: true, .. }));
        stream.on_read(b"G");
        assert!(matches!(stream.phase, Phase::Head { idle: false, .. }));
        stream.phase = Phase::Request;
        stream.on_write(b"HTTP/1.1 100 Continue\r\n");
        assert!(matches!(stream.phase, Phase::Request), "the body follows");
        stream.on_write(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert!(matches!(stream.phase, Phase::Upgraded));
        // WebSocket bytes are never watched.
        stream.on_read(b"\r\n\r\n");
        stream.on_write(b"HTTP/1.1 200");
        assert!(matches!(stream.phase, Phase::Upgraded));
        // A body written mid-request is not a response start.
        stream.phase = head();
        stream.on_write(b"HTTP/1.1 200");
        assert!(matches!(stream.phase, Phase::Head { .. }));
    }
}
