//! A delaying TCP relay: every chunk read from one side is written to the other side
//! `delay` later, in order, so each direction gets a fixed one-way latency and a
//! request/response pair costs 2 × `delay` (the kernel here has no `netem`). Used by the
//! network tests on 127.0.0.1 and, through the `stash-net-relay` binary, by
//! `bench/net/run.sh` in front of servers in a network namespace.
//!
//! The delay is per chunk, not per connection: a response streamed in many reads arrives
//! `delay` after each piece left the server, like a long link, not like a slow handshake.
//! Optionally it drops connections mid-response ([`Faults`]) for failure tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

/// Largest chunk read at once; a direction holds at most `QUEUE` of them in flight
/// (4 MiB, about a default Linux TCP window), so a slow reader still pushes back.
const CHUNK: usize = 64 * 1024;
const QUEUE: usize = 64;

/// Cut the first `connections` connections once `after_bytes` of response (server to
/// client) have gone through each of them: both sides are shut down mid-stream.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub connections: u64,
    pub after_bytes: u64,
}

/// What went through the relay so far.
#[derive(Default, Debug)]
pub struct Counters {
    pub connections: AtomicU64,
    /// Connections cut by [`Faults`].
    pub dropped: AtomicU64,
    /// Bytes client to server and server to client.
    pub up: AtomicU64,
    pub down: AtomicU64,
    /// HTTP requests seen client to server, by [`Kind`] (indexed by `Kind as usize`).
    pub requests: [AtomicU64; 5],
}

/// What an HTTP request to an object store does, as the benchmark reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Get,
    Put,
    List,
    Head,
    Other,
}

impl Counters {
    /// Requests so far: GET, PUT, LIST, HEAD, other (POST, DELETE, ...).
    pub fn requests(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.requests[i].load(Ordering::SeqCst))
    }
}

/// Classifies a request line: a GET with a listing query (S3 `list-type`, `prefix`,
/// `delimiter`; Azure `comp=list`) or of a bare bucket is a LIST.
pub fn classify(request_line: &str) -> Kind {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let listing = query.split('&').any(|kv| {
        let key = kv.split('=').next().unwrap_or("");
        matches!(key, "list-type" | "prefix" | "delimiter") || kv == "comp=list"
    }) || path.trim_matches('/').split('/').count() <= 1;
    match method {
        "GET" if listing => Kind::List,
        "GET" => Kind::Get,
        "PUT" => Kind::Put,
        "HEAD" => Kind::Head,
        _ => Kind::Other,
    }
}

/// Follows HTTP/1.1 framing on the client-to-server stream to count requests: a head up
/// to the blank line, then `Content-Length` bytes of body. A chunked request body (no
/// length) ends the counting for that connection rather than guessing.
#[derive(Default)]
struct RequestCounter {
    head: Vec<u8>,
    body_left: u64,
    lost: bool,
}

impl RequestCounter {
    fn feed(&mut self, mut data: &[u8], counters: &Counters) {
        while !data.is_empty() && !self.lost {
            if self.body_left > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.body_left).unwrap_or(usize::MAX));
                self.body_left -= n as u64;
                data = &data[n..];
                continue;
            }
            self.head.extend_from_slice(data);
            data = &[];
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                self.lost = self.head.len() > 64 * 1024;
                return;
            };
            let rest = self.head.split_off(end + 4);
            let head = String::from_utf8_lossy(&self.head).into_owned();
            self.head.clear();
            let kind = classify(head.lines().next().unwrap_or(""));
            counters.requests[kind as usize].fetch_add(1, Ordering::SeqCst);
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
            };
            self.lost = header("transfer-encoding").is_some();
            self.body_left = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            // The bytes after the head are body or the next request: go round again.
            self.feed_owned(rest, counters);
        }
    }

    fn feed_owned(&mut self, rest: Vec<u8>, counters: &Counters) {
        if !rest.is_empty() {
            self.feed(&rest, counters);
        }
    }
}

/// A running relay; stops accepting when dropped (open connections run to their end).
pub struct Relay {
    /// `host:port` it listens on.
    pub addr: String,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Listens on `listen` (port 0: any free one) and forwards to `upstream`.
    pub fn start(
        listen: &str,
        upstream: &str,
        delay: Duration,
        faults: Option<Faults>,
    ) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?.to_string();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, upstream) = (counters.clone(), stop.clone(), upstream.to_string());
        thread::spawn(move || accept_loop(listener, &upstream, delay, faults, &c, &s));
        Ok(Relay {
            addr,
            counters,
            stop,
        })
    }

    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so its thread sees `stop` and ends.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: &str,
    delay: Duration,
    faults: Option<Faults>,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(upstream) else {
            continue; // The client sees a closed connection, as with a dead server.
        };
        let n = counters.connections.fetch_add(1, Ordering::SeqCst);
        let cut = faults.filter(|f| n < f.connections).map(|f| f.after_bytes);
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        direction(client, s2, delay, None, counters.clone(), false);
        direction(server, c2, delay, cut, counters.clone(), true);
    }
}

/// One step of a direction's delay line.
enum Piece {
    Data(Vec<u8>),
    /// The sender closed its side: pass the half-close on.
    Eof,
    /// [`Faults`] cut this connection here.
    Cut,
}

/// Copies `from` to `to` through a delay line: a reader thread stamps each chunk with its
/// due time, a writer thread sends it then. With `cut`, both sockets are shut down once
/// that many bytes went through, so the peer sees the stream end mid-response.
fn direction(
    from: TcpStream,
    to: TcpStream,
    delay: Duration,
    cut: Option<u64>,
    counters: Arc<Counters>,
    down: bool,
) {
    let (tx, rx) = sync_channel::<(Instant, Piece)>(QUEUE);
    let Ok(from2) = from.try_clone() else { return };
    let requests = (!down).then(|| counters.clone());
    thread::spawn(move || read_side(from, &tx, delay, cut, requests.as_deref()));
    thread::spawn(move || {
        let count = if down { &counters.down } else { &counters.up };
        match write_side(&rx, &to, count) {
            Piece::Eof => {
                let _ = to.shutdown(Shutdown::Write);
            }
            Piece::Cut => {
                counters.dropped.fetch_add(1, Ordering::SeqCst);
                let _ = from2.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
            }
            // The receiver went away: stop reading from the sender too.
            Piece::Data(_) => {
                let _ = from2.shutdown(Shutdown::Both);
            }
        }
    });
}

/// Reads chunks until EOF, an error, or `cut` bytes, and queues them with their due time.
fn read_side(
    mut from: TcpStream,
    tx: &SyncSender<(Instant, Piece)>,
    delay: Duration,
    cut: Option<u64>,
    requests: Option<&Counters>,
) {
    let mut left = cut.unwrap_or(u64::MAX);
    let mut parser = RequestCounter::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if left == 0 {
            let _ = tx.send((Instant::now() + delay, Piece::Cut));
            return;
        }
        let want = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
        let piece = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => Piece::Eof,
            Ok(n) => {
                left -= n as u64;
                if let Some(c) = requests {
                    parser.feed(&buf[..n], c);
                }
                Piece::Data(buf[..n].to_vec())
            }
        };
        let end = matches!(piece, Piece::Eof);
        if tx.send((Instant::now() + delay, piece)).is_err() || end {
            return;
        }
    }
}

/// Writes each chunk at its due time; returns how the stream ended (`Data` for a failed
/// write).
fn write_side(rx: &Receiver<(Instant, Piece)>, mut to: &TcpStream, count: &AtomicU64) -> Piece {
    while let Ok((due, piece)) = rx.recv() {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        match piece {
            Piece::Data(data) => {
                if to.write_all(&data).is_err() {
                    return Piece::Data(Vec::new());
                }
                count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            end => return end,
        }
    }
    Piece::Eof
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_like_the_report_counts_them() {
        assert_eq!(classify("GET /stash/p/x.pack HTTP/1.1"), Kind::Get);
        assert_eq!(
            classify("GET /stash?list-type=2&prefix=p HTTP/1.1"),
            Kind::List
        );
        assert_eq!(classify("GET /stash/ HTTP/1.1"), Kind::List);
        assert_eq!(
            classify("GET /stash?restype=container&comp=list HTTP/1.1"),
            Kind::List
        );
        assert_eq!(classify("HEAD /stash/p/x HTTP/1.1"), Kind::Head);
        assert_eq!(classify("PUT /stash/p/x HTTP/1.1"), Kind::Put);
        assert_eq!(classify("POST /stash/p/x?uploads HTTP/1.1"), Kind::Other);
    }

    #[test]
    fn bodies_are_skipped_by_length_and_pipelined_heads_all_count() {
        let counters = Counters::default();
        let mut parser = RequestCounter::default();
        // A body that looks like a request line must not count.
        let put = b"PUT /b/k HTTP/1.1\r\nContent-Length: 21\r\n\r\nGET /b/x HTTP/1.1\r\n\r\n";
        let (a, b) = put.split_at(30);
        parser.feed(a, &counters);
        parser.feed(b, &counters);
        parser.feed(
            b"HEAD /b/k HTTP/1.1\r\n\r\nGET /b/k HTTP/1.1\r\nHost: x\r\n\r\n",
            &counters,
        );
        assert_eq!(counters.requests(), [1, 1, 0, 1, 0]);
    }
}
