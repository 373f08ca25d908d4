//! The object stores the store suite runs against: a temp folder, and the SeaweedFS (S3)
//! and Azurite servers that `scripts/servers.sh start` runs on 127.0.0.1 and describes in
//! `target/servers.env`; GCS only when `CARGO_STASH_TEST_GCS` names a bucket. Also a TCP
//! proxy that "stops the server" after a number of bytes, for failure tests.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use stash_tests::Stash;

/// The env file `scripts/servers.sh start` writes.
pub fn env_file() -> PathBuf {
    std::env::var_os("CARGO_STASH_SERVERS_ENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/servers.env"),
        PathBuf::from,
    )
}

/// `KEY=VALUE` lines of the env file; `None` when there is none.
pub fn server_env() -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(env_file()).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// A backend the suite runs against: the store URL plus the env it needs.
pub struct Backend {
    pub name: &'static str,
    pub stash: Stash,
    /// Where the server listens (`host:port`), for the proxy; `None` for file://.
    pub addr: Option<String>,
    /// The env var holding the endpoint URL, to point it at a proxy.
    pub endpoint_var: Option<&'static str>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn file() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            name: "file",
            stash: Stash::local(dir.path()),
            addr: None,
            endpoint_var: None,
            _dir: Some(dir),
        }
    }

    /// S3 or Azure from the env file. Without it: panics with how to start the servers,
    /// unless `CARGO_STASH_SKIP_SERVERS=1`, which skips with a printed reason.
    pub fn server(name: &'static str, unique: &str) -> Option<Backend> {
        let Some(env) = server_env() else {
            if std::env::var("CARGO_STASH_SKIP_SERVERS").is_ok_and(|v| v == "1") {
                eprintln!(
                    "SKIPPED {name}: no {} and CARGO_STASH_SKIP_SERVERS=1",
                    env_file().display()
                );
                return None;
            }
            panic!(
                "{} is missing: run `scripts/servers.sh start` first (or set \
                 CARGO_STASH_SKIP_SERVERS=1 to skip the {name} store tests)",
                env_file().display()
            );
        };
        let (url_var, endpoint_var, prefixes): (_, _, &[&str]) = match name {
            "s3" => ("CARGO_STASH_TEST_S3", "AWS_ENDPOINT", &["AWS_"]),
            "azure" => (
                "CARGO_STASH_TEST_AZURE",
                "AZURITE_BLOB_STORAGE_URL",
                &["AZURE_", "AZURITE_"],
            ),
            _ => unreachable!(),
        };
        let url = env
            .get(url_var)
            .unwrap_or_else(|| panic!("{url_var} missing in {}", env_file().display()));
        let endpoint = env.get(endpoint_var).cloned().unwrap_or_default();
        let addr = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Some(Backend {
            name,
            stash: Stash {
                store: format!("{url}/{unique}"),
                env: env
                    .iter()
                    .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain(fast_failure())
                    .collect(),
            },
            addr: Some(addr),
            endpoint_var: Some(endpoint_var),
            _dir: None,
        })
    }

    /// GCS when `CARGO_STASH_TEST_GCS=gs://bucket/prefix` is set (credentials from the usual
    /// GOOGLE_* variables of this process); skipped with a printed reason otherwise.
    pub fn gcs(unique: &str) -> Option<Backend> {
        let Ok(url) = std::env::var("CARGO_STASH_TEST_GCS") else {
            eprintln!(
                "SKIPPED gcs: no GCS emulator runs here; set CARGO_STASH_TEST_GCS=gs://bucket/prefix \
                 with GOOGLE_SERVICE_ACCOUNT(_KEY) to run the suite against GCS"
            );
            return None;
        };
        Some(Backend {
            name: "gcs",
            stash: Stash {
                store: format!("{}/{unique}", url.trim_end_matches('/')),
                env: Vec::new(),
            },
            addr: None,
            endpoint_var: None,
            _dir: None,
        })
    }

    /// The same backend reached through `proxy` instead of directly.
    pub fn via(&self, proxy: &Proxy) -> Stash {
        self.via_addr(&proxy.addr)
    }

    /// The same backend reached through whatever listens at `addr` (a proxy, a relay).
    pub fn via_addr(&self, addr: &str) -> Stash {
        let var = self.endpoint_var.expect("a server backend");
        let mut env: Vec<(String, String)> = self
            .stash
            .env
            .iter()
            .filter(|(k, _)| k != var)
            .cloned()
            .collect();
        env.push((var.to_string(), format!("http://{addr}")));
        Stash {
            store: self.stash.store.clone(),
            env,
        }
    }

    /// Values in this backend's env that must never be printed.
    pub fn secrets(&self) -> Vec<String> {
        self.stash
            .env
            .iter()
            .filter(|(k, _)| k.contains("SECRET") || k.contains("KEY") || k.contains("TOKEN"))
            .filter(|(k, _)| !k.ends_with("KEY_ID"))
            .map(|(_, v)| v.clone())
            .filter(|v| v.len() >= 8)
            .collect()
    }
}

/// Give up on a dead store in seconds, not minutes.
fn fast_failure() -> Vec<(String, String)> {
    [
        ("CARGO_STASH_RETRIES", "2"),
        ("CARGO_STASH_RETRY_TIMEOUT", "5s"),
        ("CARGO_STASH_CONNECT_TIMEOUT", "2s"),
        // Whole request, body included: generous, as 8 streams share 2 loaded cores.
        ("CARGO_STASH_TIMEOUT", "300s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Which bytes count toward a [`Proxy`]'s cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Bytes from the server: responses, downloads.
    Downloads,
    /// Bytes to the server: requests, uploads.
    Uploads,
}

/// A TCP proxy on 127.0.0.1 in front of a server. Once `cut_after` bytes have come back
/// from the server it "stops the server": closes every connection and refuses new ones.
pub struct Proxy {
    pub addr: String,
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: &str, cut_after: u64) -> Proxy {
        Proxy::cutting(upstream, cut_after, Cut::Downloads)
    }

    /// Like [`Proxy::start`], counting the bytes that flow the `cut` way.
    pub fn cutting(upstream: &str, cut_after: u64, cut: Cut) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stopped = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (upstream, s, b) = (upstream.to_string(), stopped.clone(), bytes.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut all = conns.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let spawn_pipe = |from: TcpStream, to: TcpStream, counted: bool| {
                    let (stop, count, conns) = (s.clone(), b.clone(), conns.clone());
                    thread::spawn(move || {
                        let over = pipe(from, to, counted.then_some((count, cut_after)));
                        if !over || stop.swap(true, Ordering::SeqCst) {
                            return;
                        }
                        // Over the limit: cut everything.
                        if let Ok(all) = conns.lock() {
                            for c in all.iter() {
                                let _ = c.shutdown(Shutdown::Both);
                            }
                        }
                    });
                };
                spawn_pipe(client, s2, cut == Cut::Uploads);
                spawn_pipe(server, c2, cut == Cut::Downloads);
            }
            // Stopped: the listener drops here, so new connections are refused.
        });
        Proxy { addr, stopped }
    }

    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`; with a counter, stops and returns `true` once the shared total
/// passes the limit.
fn pipe(mut from: TcpStream, mut to: TcpStream, limit: Option<(Arc<AtomicU64>, u64)>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some((count, max)) = &limit
            && count.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > *max
        {
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return true;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    false
}

/// A store name unique to this run, so reruns against a long-lived server never see
/// each other's snapshots.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}
