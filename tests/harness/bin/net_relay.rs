//! `stash-net-relay LISTEN UPSTREAM DELAY_MS [STATS_FILE]`: the delaying TCP relay of
//! `stash_tests::relay` as a process, for `bench/net/run.sh` (adds DELAY_MS to every
//! chunk in each direction, so a round trip costs 2 × DELAY_MS). Prints the address it
//! listens on, then runs until killed. With STATS_FILE, rewrites it every 100 ms with
//! the cumulative counts `GET PUT LIST HEAD OTHER BYTES_UP BYTES_DOWN`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stash_tests::relay::Relay;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, delay_ms, stats) = match args.as_slice() {
        [l, u, d] => (l, u, d, None),
        [l, u, d, s] => (l, u, d, Some(s.clone())),
        _ => {
            eprintln!(
                "usage: stash-net-relay LISTEN UPSTREAM DELAY_MS [STATS_FILE] \
                 (e.g. 127.0.0.1:0 10.0.0.2:8333 20)"
            );
            std::process::exit(2);
        }
    };
    let delay_ms: f64 = delay_ms.parse().unwrap_or_else(|_| {
        eprintln!("stash-net-relay: DELAY_MS must be a number of milliseconds, got {delay_ms:?}");
        std::process::exit(2);
    });
    let relay = Relay::start(
        listen,
        upstream,
        Duration::from_secs_f64(delay_ms / 1000.0),
        None,
    )
    .unwrap_or_else(|e| {
        eprintln!("stash-net-relay: cannot listen on {listen}: {e}");
        std::process::exit(1);
    });
    println!("{}", relay.addr);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(path) = &stats {
            let c = &relay.counters;
            let [g, p, l, h, o] = c.requests();
            let line = format!(
                "{g} {p} {l} {h} {o} {} {}\n",
                c.up.load(Ordering::SeqCst),
                c.down.load(Ordering::SeqCst)
            );
            // Written aside and renamed, so a reader never sees half a line.
            let tmp = format!("{path}.tmp");
            if std::fs::write(&tmp, line).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }
}
