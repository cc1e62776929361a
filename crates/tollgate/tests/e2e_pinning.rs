//! Worker placement: the workers stay inside the process's affinity mask (`taskset`, a
//! container's cpuset), `--cpus` / `gateway.cpus` choose among those CPUs, `--no-pin` pins
//! nothing, and a CPU outside the mask is refused at start. Each thread's allowed CPUs are read
//! from `/proc/PID/task/*/status` of the real process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, TempFile};

const CONFIG: &str = r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "127.0.0.1:0"
  access_log: "off"
apis:
  - id: pin1
    hosts: ["*"]
    stages:
      prod: {}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration: { type: mock, status: 200, body: "hi" }
"#;

struct Started {
    child: Child,
    listen: std::net::SocketAddr,
    log: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `taskset -c MASK tollgate serve ARGS`; waits for the admin line. Err(stderr) on exit.
fn start(mask: &str, cfg: &TempFile, args: &[&str]) -> Result<Started, String> {
    let mut child = Command::new("taskset")
        .args(["-c", mask])
        .arg(common::bin())
        .arg("serve")
        .arg("--config")
        .arg(&cfg.0)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskset (util-linux)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let mut listen = None;
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(log);
        };
        log.push_str(&line);
        log.push('\n');
        if let Some((_, rest)) = line.split_once("tollgate: listening on http://") {
            listen = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if line.contains("tollgate: admin on") {
            std::thread::spawn(move || for _ in lines {});
            return Ok(Started {
                child,
                listen: listen.expect("listening line"),
                log,
            });
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(log)
}

/// (thread name, Cpus_allowed_list) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(e.unwrap().path().join("status")).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .trim()
                .to_owned()
        };
        out.push((field("Name:"), field("Cpus_allowed_list:")));
    }
    out.sort();
    out
}

/// The threads of `pid` once `ok` holds for them (a thread names and pins itself when it first
/// runs, which may be just after the start-up line): polled for up to 10 s.
fn settled(pid: u32, ok: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let ts = threads(pid);
        if ok(&ts) || Instant::now() > until {
            return ts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn workers_named(ts: &[(String, String)], n: usize) -> bool {
    ts.iter()
        .filter(|(t, _)| t.starts_with("tollgate-w"))
        .count()
        == n
}

fn two_cpus() -> bool {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n < 2 {
        eprintln!("skipping: needs 2 CPUs, this process may use {n}");
    }
    n >= 2
}

fn serves(addr: std::net::SocketAddr) {
    let mut c = Client::connect(addr);
    let r = c.request(&common::get("/prod/hello", ""));
    assert_eq!(r.status, 200);
}

#[test]
fn workers_stay_inside_the_affinity_mask() {
    if !two_cpus() {
        return;
    }
    let cfg = TempFile::new("pin.yaml", CONFIG);
    // Two workers, one allowed CPU: both workers (and every other thread) on CPU 1.
    let g = start("1", &cfg, &["--workers", "2"]).unwrap();
    serves(g.listen);
    let ts = threads(g.child.id());
    let workers: Vec<_> = ts
        .iter()
        .filter(|(n, _)| n.starts_with("tollgate-w"))
        .collect();
    assert_eq!(workers.len(), 2, "{ts:?}");
    for (name, cpus) in &ts {
        assert_eq!(cpus, "1", "thread {name} may run on {cpus}: {ts:?}");
    }
    assert!(g.log.contains("w0->cpu1 w1->cpu1"), "{}", g.log);
}

#[test]
fn default_places_worker_i_on_the_ith_allowed_cpu() {
    if !two_cpus() {
        return;
    }
    let cfg = TempFile::new("pin.yaml", CONFIG);
    let g = start("0,1", &cfg, &["--workers", "2"]).unwrap();
    serves(g.listen);
    let ts = settled(g.child.id(), |ts| {
        workers_named(ts, 2)
            && ts
                .iter()
                .filter(|(t, _)| t.starts_with("tollgate-w"))
                .all(|(_, c)| c != "0-1")
    });
    let get = |n: &str| ts.iter().find(|(t, _)| t == n).unwrap().1.clone();
    assert_eq!(get("tollgate-w0"), "0");
    assert_eq!(get("tollgate-w1"), "1");
}

#[test]
fn cpus_flag_and_no_pin() {
    if !two_cpus() {
        return;
    }
    let cfg = TempFile::new("pin.yaml", CONFIG);
    let g = start("0,1", &cfg, &["--workers", "1", "--cpus", "1"]).unwrap();
    serves(g.listen);
    let w0 = settled(g.child.id(), |ts| {
        ts.iter().any(|(t, c)| t == "tollgate-w0" && c == "1")
    })
    .into_iter()
    .find(|(n, _)| n == "tollgate-w0")
    .unwrap();
    assert_eq!(w0.1, "1");
    drop(g);

    let g = start("0,1", &cfg, &["--workers", "2", "--no-pin"]).unwrap();
    serves(g.listen);
    for (name, cpus) in settled(g.child.id(), |ts| workers_named(ts, 2)) {
        assert_eq!(cpus, "0-1", "{name}");
    }
    assert!(g.log.contains("w0->unpinned"), "{}", g.log);
}

#[test]
fn a_cpu_outside_the_mask_is_refused() {
    if !two_cpus() {
        return;
    }
    let cfg = TempFile::new("pin.yaml", CONFIG);
    let err = start("1", &cfg, &["--cpus", "0"])
        .err()
        .expect("must not start");
    assert!(err.contains("cpu 0 is outside"), "{err}");

    let with_cpus = CONFIG.replace("  region:", "  cpus: [0]\n  region:");
    let cfg = TempFile::new("pin.yaml", &with_cpus);
    let err = start("1", &cfg, &[]).err().expect("must not start");
    assert!(err.contains("cpu 0 is outside"), "{err}");
}
