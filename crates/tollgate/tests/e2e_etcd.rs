//! A fleet on etcd, end to end: a real etcd (Debian's `etcd-server`, temp data dir, free
//! loopback ports), three real `tollgate serve --config etcd://...` processes, `tollgate push`,
//! and `etcdctl` as an independent client writing behind the gateways' backs.
//!
//! Skipped (with a message) only when the etcd binaries are absent and `CI` is not set; under
//! CI a missing etcd fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Gateway, SOON, bin, eventually, get};

const KEY: &str = "/tollgate/config";

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .env("ETCDCTL_API", "3")
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `false` (after saying why) when the test must be skipped.
fn etcd_available() -> bool {
    if have("etcd", "--version") && have("etcdctl", "version") {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "CI is set but etcd/etcdctl are not installed (apt-get install etcd-server etcd-client; .ci/run does it)"
    );
    eprintln!(
        "SKIPPED: etcd or etcdctl not found (apt-get install etcd-server etcd-client); set CI=true to make this an error"
    );
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tollgate-etcd-{}-{name}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One etcd member on loopback; Drop stops it.
struct Etcd {
    child: Option<Child>,
    data: PathBuf,
    client_port: u16,
    peer_port: u16,
    log: PathBuf,
    /// Serve clients over TLS with the certificates of this [`Pki`] directory, requiring
    /// client certificates signed by its CA.
    tls: Option<PathBuf>,
}

impl Etcd {
    fn start(data: &Path, client_port: u16, peer_port: u16) -> Etcd {
        Self::start_with(data, client_port, peer_port, None)
    }

    /// A member serving clients on https, with `--client-cert-auth`.
    fn start_tls(data: &Path, client_port: u16, peer_port: u16, pki: &Path) -> Etcd {
        Self::start_with(data, client_port, peer_port, Some(pki.to_path_buf()))
    }

    fn start_with(data: &Path, client_port: u16, peer_port: u16, tls: Option<PathBuf>) -> Etcd {
        let mut e = Etcd {
            child: None,
            data: data.to_path_buf(),
            client_port,
            peer_port,
            log: data.with_extension("log"),
            tls,
        };
        e.run(client_port);
        e
    }

    fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Start the member serving clients on `port` (same data dir, same peer port).
    fn run(&mut self, port: u16) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut tls_args = Vec::new();
        let mut ctl_args = Vec::new();
        if let Some(pki) = &self.tls {
            let f = |n: &str| pki.join(n).to_string_lossy().into_owned();
            tls_args = vec![
                "--cert-file".to_owned(),
                f("server.pem"),
                "--key-file".to_owned(),
                f("server.key"),
                "--client-cert-auth".to_owned(),
                "--trusted-ca-file".to_owned(),
                f("ca.pem"),
            ];
            ctl_args = etcdctl_tls_args(pki);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("etcd")
            .args(["--name", "t1", "--data-dir"])
            .arg(&self.data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t1={peer}")])
            .args(&tls_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
        let ok = eventually(Duration::from_secs(30), || {
            let mut args: Vec<&str> = ctl_args.iter().map(String::as_str).collect();
            args.extend(["endpoint", "health"]);
            etcdctl(&client, &args).status.success()
        });
        assert!(
            ok,
            "etcd did not become healthy on {client}; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// etcdctl's flags to reach a TLS member of [`Pki`] `dir` with its client certificate.
fn etcdctl_tls_args(dir: &Path) -> Vec<String> {
    let f = |n: &str| dir.join(n).to_string_lossy().into_owned();
    vec![
        "--cacert".to_owned(),
        f("ca.pem"),
        "--cert".to_owned(),
        f("client.pem"),
        "--key".to_owned(),
        f("client.key"),
    ]
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--dial-timeout", "1s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl")
}

/// Write `value` with etcdctl (an independent client); the store revision of the write.
fn etcdctl_put(endpoint: &str, value: &str) -> i64 {
    let out = etcdctl(endpoint, &["put", "-w", "json", KEY, value]);
    assert!(
        out.status.success(),
        "etcdctl put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["header"]["revision"].as_i64().unwrap()
}

/// A config whose `/hello` answers `body`; the API's resource policy is read from
/// `policy_file`, a path relative to each node's working directory.
fn config(body: &str, policy_file: &str) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners:
    - bind: "127.0.0.1:1"
  admin:
    bind: "127.0.0.1:2"
apis:
  - id: fleet00001
    hosts: ["*"]
    resource_policy_file: {policy_file}
    stages:
      prod: {{}}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration:
          type: mock
          status: 200
          body: '{body}'
      - path: /secret
        methods: [GET]
        authorization: NONE
        integration:
          type: mock
          status: 200
          body: 'secret'
"#
    )
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},
 {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/secret"}]}"#;

fn push(file: &Path, url: &str, expect: Option<i64>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["push", "--config"]).arg(file).arg(url);
    if let Some(n) = expect {
        cmd.args(["--expect-revision", &n.to_string()]);
    }
    cmd.stdin(Stdio::null())
        .output()
        .expect("run tollgate push")
}

fn pushed_revision(out: &Output) -> i64 {
    assert!(
        out.status.success(),
        "push failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn admin_get(gw: &Gateway, path: &str) -> common::Response {
    Client::connect(gw.admin).request(&get(path, ""))
}

/// A one-worker node serving `url` (an etcd URL), started in `dir`.
fn node(url: &str, dir: &Path) -> Gateway {
    Gateway::launch(
        &[
            "serve",
            "--config",
            url,
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-pin",
        ],
        Some(dir),
    )
}

fn config_of(gw: &Gateway) -> serde_json::Value {
    admin_get(gw, "/config").json()
}

fn hello(gw: &Gateway) -> String {
    gw.connect().request(&get("/prod/hello", "")).text()
}

fn metric(gw: &Gateway, line_prefix: &str) -> Option<f64> {
    admin_get(gw, "/metrics")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix)?.trim().parse().ok())
}

/// Poll until every node serves `body` from etcd revision `rev`.
fn all_serve(nodes: &[Gateway], body: &str, rev: i64) -> bool {
    eventually(SOON, || {
        nodes.iter().all(|g| {
            let c = config_of(g);
            c["revision"] == rev && hello(g) == body
        })
    })
}

#[test]
fn a_fleet_follows_one_key() {
    if !etcd_available() {
        return;
    }
    let dir = TempDir::new("fleet");
    let data = dir.0.join("etcd-data");
    let (cport, pport) = (free_port(), free_port());
    let mut etcd = Etcd::start(&data, cport, pport);
    let ep = etcd.endpoint();
    let url = format!("etcd://127.0.0.1:{cport}{KEY}");

    // The nodes' working directory holds the policy file the stored config names.
    let work = dir.0.join("node");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("policy.json"), POLICY).unwrap();
    let file = work.join("config.yaml");

    // No key yet: serve refuses to start with a clear message.
    let out = common::run(&[
        "serve",
        "--config",
        &url,
        "--bind",
        "127.0.0.1:0",
        "--admin-bind",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the key does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // First revision: --expect-revision 0 creates the key.
    std::fs::write(&file, config("rev-a", "policy.json")).unwrap();
    let r1 = pushed_revision(&push(&file, &url, Some(0)));
    let again = push(&file, &url, Some(0));
    assert_eq!(again.status.code(), Some(3), "the key exists now");
    let msg = String::from_utf8_lossy(&again.stderr);
    assert!(
        msg.contains(&format!("exists (revision {r1})"))
            && msg.contains("--expect-revision 0 writes only a new key"),
        "{msg}"
    );

    let nodes: Vec<Gateway> = (0..3).map(|_| node(&url, &work)).collect();
    let ports: std::collections::HashSet<u16> = nodes.iter().map(|g| g.addr.port()).collect();
    assert_eq!(ports.len(), 3, "--bind 127.0.0.1:0: one free port each");
    for g in &nodes {
        let c = config_of(g);
        assert_eq!(c["source"], "etcd", "{c}");
        assert_eq!(c["revision"], r1, "{c}");
        assert_eq!(hello(g), "rev-a");
        // The relative policy file was read from the node's working directory.
        let s = g.connect().request(&get("/prod/secret", ""));
        assert_eq!(s.status, 403, "{}", s.text());
        // The config is read before the watch is set up; the state turns to watching when
        // etcd confirms the watch, which may be a moment after the node serves.
        assert!(
            eventually(SOON, || metric(g, "tollgate_config_watch_state ")
                == Some(2.0)),
            "watch state should be watching"
        );
        assert_eq!(metric(g, "tollgate_config_revision "), Some(r1 as f64));
    }

    // A pushed revision reaches every node.
    std::fs::write(&file, config("rev-b", "policy.json")).unwrap();
    let t = Instant::now();
    let r2 = pushed_revision(&push(&file, &url, Some(r1)));
    assert!(r2 > r1);
    assert!(all_serve(&nodes, "rev-b", r2), "not every node serves {r2}");
    eprintln!(
        "revision {r2} served by all three nodes {:?} after the push started",
        t.elapsed()
    );

    // A stale --expect-revision is refused; nothing changes.
    std::fs::write(&file, config("rev-stale", "policy.json")).unwrap();
    let stale = push(&file, &url, Some(r1));
    assert_eq!(stale.status.code(), Some(3));
    let msg = String::from_utf8_lossy(&stale.stderr);
    assert!(
        msg.contains("refused") && msg.contains(&format!("revision {r2}")),
        "{msg}"
    );
    // An invalid file is refused before anything is written, every error printed.
    let bad_file = work.join("bad.yaml");
    std::fs::write(
        &bad_file,
        config("rev-bad", "missing.json").replace("authorization: NONE\n        integration:\n          type: mock\n          status: 200\n          body: 'secret'", "authorization: CUSTOM\n        authorizer: nobody\n        integration:\n          type: mock\n          status: 200\n          body: 'secret'"),
    )
    .unwrap();
    let bad = push(&bad_file, &url, None);
    assert_eq!(bad.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&bad.stdout);
    assert!(
        printed.contains("resource_policy_file") && printed.contains("nobody"),
        "{printed}"
    );

    // An invalid revision written behind push's back is refused by every node, which keep
    // serving the last good one.
    let bad_text = std::fs::read_to_string(&bad_file).unwrap();
    let r3 = etcdctl_put(&ep, &bad_text);
    for g in &nodes {
        assert!(
            eventually(SOON, || g
                .stderr_text()
                .contains(&format!("revision {r3} refused, 2 error(s)"))),
            "{}",
            g.stderr_text()
        );
        assert_eq!(
            metric(g, "tollgate_config_watch_failures_total{kind=\"invalid\"} "),
            Some(1.0)
        );
        let c = config_of(g);
        assert_eq!(c["revision"], r2, "{c}");
        assert_eq!(hello(g), "rev-b");
    }

    // etcd goes away; the nodes keep serving. A revision is written while they cannot reach it
    // (the member briefly serves on another port), then etcd returns on its address: every node
    // reconnects, resumes its watch from its last revision + 1 and converges.
    etcd.stop();
    for g in &nodes {
        assert!(
            eventually(SOON, || metric(g, "tollgate_config_watch_state ")
                == Some(1.0)),
            "watch state should be reconnecting"
        );
        assert_eq!(hello(g), "rev-b");
    }
    // Two revisions, then the history is compacted: the nodes' resume point is gone, so they
    // must re-read the key.
    let side = free_port();
    etcd.run(side);
    let side_ep = format!("http://127.0.0.1:{side}");
    etcdctl_put(&side_ep, &config("rev-c0", "policy.json"));
    let r4 = etcdctl_put(&side_ep, &config("rev-c", "policy.json"));
    let compact = etcdctl(&side_ep, &["compaction", &r4.to_string()]);
    assert!(compact.status.success(), "{compact:?}");
    etcd.stop();
    for g in &nodes {
        assert_eq!(hello(g), "rev-b", "nothing seen while etcd was away");
    }
    etcd.run(cport);
    assert!(
        all_serve(&nodes, "rev-c", r4),
        "not every node converged on {r4} after etcd returned"
    );
    for g in &nodes {
        assert!(
            g.stderr_text()
                .contains("were compacted; re-reading the key"),
            "{}",
            g.stderr_text()
        );
        assert!(
            eventually(SOON, || metric(g, "tollgate_config_watch_state ")
                == Some(2.0)),
            "watch state should be watching again"
        );
        assert!(
            metric(
                g,
                "tollgate_config_watch_failures_total{kind=\"connection\"} "
            )
            .is_some_and(|n| n >= 1.0)
        );
    }

    // push without --expect-revision compares with the revision it reads first.
    std::fs::write(&file, config("rev-d", "policy.json")).unwrap();
    let r5 = pushed_revision(&push(&file, &url, None));
    assert!(all_serve(&nodes, "rev-d", r5));

    // The files a stored config names live on each node: after changing one, SIGHUP (or
    // POST /config/reload) re-reads the key and the files; the other nodes keep theirs until
    // they reload too.
    std::fs::write(
        work.join("policy.json"),
        POLICY.replace(r#""Effect":"Deny""#, r#""Effect":"Allow""#),
    )
    .unwrap();
    let secret = |g: &Gateway| g.connect().request(&get("/prod/secret", "")).status;
    let before = config_of(&nodes[0])["version"].as_u64().unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &nodes[0].child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(
        eventually(SOON, || config_of(&nodes[0])["version"].as_u64()
            == Some(before + 1)),
        "SIGHUP did not reload: {}",
        nodes[0].stderr_text()
    );
    assert_eq!(config_of(&nodes[0])["revision"], r5);
    assert_eq!(
        secret(&nodes[0]),
        200,
        "node 0 read the changed policy file"
    );
    assert_eq!(secret(&nodes[1]), 403, "node 1 has not reloaded");
    let r = Client::connect(nodes[1].admin)
        .request(b"POST /config/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(secret(&nodes[1]), 200);
    assert_eq!(config_of(&nodes[1])["source"], "etcd");
}

/// `--bind` / `--admin-bind` replace the file's addresses at start and keep doing so on every
/// change, so a config naming other addresses still applies; `GET /config` names the source.
#[test]
fn bind_overrides_hold_across_changes_and_config_names_its_source() {
    let dir = TempDir::new("bind");
    std::fs::write(dir.0.join("policy.json"), POLICY).unwrap();
    let policy = dir.0.join("policy.json");
    let text = config("from-file", policy.to_str().unwrap());
    let gw = Gateway::start(
        &text,
        &[
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-pin",
        ],
    );
    assert_ne!(gw.addr.port(), 1, "the file's listener was replaced");
    assert_ne!(gw.admin.port(), 2, "the file's admin address was replaced");
    assert!(
        gw.stderr_text()
            .contains(&format!("listening on http://{}", gw.addr))
    );
    let c = config_of(&gw);
    assert_eq!(c["source"], "file", "{c}");
    assert!(c.get("revision").is_none(), "{c}");
    assert_eq!(hello(&gw), "from-file");
    // The same listeners in the body as in the file: the overrides apply, no restart needed.
    let body = config("from-put", policy.to_str().unwrap());
    let put = format!(
        "PUT /config HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = Client::connect(gw.admin).request(put.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(config_of(&gw)["source"], "admin");
    assert_eq!(hello(&gw), "from-put");
}

/// etcd with authentication: credentials in the URL or in TOLLGATE_ETCD_USER /
/// TOLLGATE_ETCD_PASSWORD; without them the write is refused (exit 4); the password is never
/// logged.
#[test]
fn etcd_user_and_password() {
    if !etcd_available() {
        return;
    }
    let dir = TempDir::new("auth");
    let (cport, pport) = (free_port(), free_port());
    let etcd = Etcd::start(&dir.0.join("etcd-data"), cport, pport);
    let ep = etcd.endpoint();
    for args in [
        &["user", "add", "root:Root-pw-1"][..],
        &["user", "grant-role", "root", "root"][..],
        &["auth", "enable"][..],
    ] {
        let out = etcdctl(&ep, args);
        assert!(out.status.success(), "etcdctl {args:?}: {out:?}");
    }
    std::fs::write(dir.0.join("policy.json"), POLICY).unwrap();
    let file = dir.0.join("config.yaml");
    std::fs::write(&file, config("authed", "policy.json")).unwrap();
    let plain = format!("etcd://127.0.0.1:{cport}{KEY}");

    let denied = push(&file, &plain, Some(0));
    assert_eq!(denied.status.code(), Some(4), "{denied:?}");

    let mut cmd = Command::new(bin());
    let out = cmd
        .args(["push", "--config"])
        .arg(&file)
        .arg(&plain)
        .env("TOLLGATE_ETCD_USER", "root")
        .env("TOLLGATE_ETCD_PASSWORD", "Root-pw-1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r1 = pushed_revision(&out);

    let with_creds = format!("etcd://root:Root-pw-1@127.0.0.1:{cport}{KEY}");
    let gw = node(&with_creds, &dir.0);
    assert_eq!(config_of(&gw)["revision"], r1);
    assert_eq!(hello(&gw), "authed");
    std::fs::write(&file, config("authed-2", "policy.json")).unwrap();
    let r2 = pushed_revision(&push(&file, &with_creds, Some(r1)));
    assert!(all_serve(std::slice::from_ref(&gw), "authed-2", r2));
    assert!(
        !gw.stderr_text().contains("Root-pw-1"),
        "{}",
        gw.stderr_text()
    );
}

/// One etcd member with a config at [`KEY`] (`/hello` answers `name`) and one node serving it.
struct OneNode {
    gw: Gateway,
    etcd: Etcd,
    /// The member's client port.
    port: u16,
    _dir: TempDir,
}

fn one_node(name: &str) -> OneNode {
    let dir = TempDir::new(name);
    let (port, pport) = (free_port(), free_port());
    let etcd = Etcd::start(&dir.0.join("etcd-data"), port, pport);
    std::fs::write(dir.0.join("policy.json"), POLICY).unwrap();
    let r1 = etcdctl_put(&etcd.endpoint(), &config(name, "policy.json"));
    let gw = node(&format!("etcd://127.0.0.1:{port}{KEY}"), &dir.0);
    assert_eq!(config_of(&gw)["revision"], r1);
    OneNode {
        gw,
        etcd,
        port,
        _dir: dir,
    }
}

/// An idle watch against an etcd with its default settings stays up: etcd closes a connection
/// whose keep-alive pings come more often than its `--grpc-keepalive-min-time` (5 s), which
/// broke every watch about every 8 s when the node pinged every 2 s.
#[test]
fn an_idle_watch_on_a_default_etcd_stays_up() {
    if !etcd_available() {
        return;
    }
    // Bound whole: its directory lives as long as the test.
    let OneNode {
        etcd, gw, _dir: _d, ..
    } = one_node("idle");
    std::thread::sleep(Duration::from_secs(25));
    let failures = metric(
        &gw,
        "tollgate_config_watch_failures_total{kind=\"connection\"} ",
    );
    assert_eq!(failures.unwrap_or(0.0), 0.0, "{}", gw.stderr_text());
    assert!(
        !gw.stderr_text().contains("watch failed"),
        "{}",
        gw.stderr_text()
    );
    // Still following.
    let r2 = etcdctl_put(&etcd.endpoint(), &config("idle-2", "policy.json"));
    assert!(all_serve(std::slice::from_ref(&gw), "idle-2", r2));
}

/// Write `value` with etcdctl from its standard input (a value too long for one argument).
fn etcdctl_put_stdin(endpoint: &str, value: &str) -> i64 {
    let mut child = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--dial-timeout", "1s"])
        .args(["put", "-w", "json", KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run etcdctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "etcdctl put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["header"]["revision"].as_i64().unwrap()
}

/// Revisions written while a node could not reach etcd come back as one catch-up when it
/// reconnects. Four configs of 1.3 MB each (under etcd's 1.5 MiB request limit) make a
/// catch-up over gRPC's default 4 MiB message limit: the node must still converge on the
/// last revision, not retry the same catch-up forever while saying it is watching.
#[test]
fn a_catch_up_larger_than_4_mib_converges() {
    if !etcd_available() {
        return;
    }
    // Bound whole: its directory lives as long as the test.
    let OneNode {
        mut etcd,
        gw,
        port,
        _dir: _d,
    } = one_node("catchup");
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(2.0)));
    etcd.stop();
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(1.0)));
    // Written on another port while the node cannot reach the member.
    let side = free_port();
    etcd.run(side);
    let side_ep = format!("http://127.0.0.1:{side}");
    for i in 0..4 {
        let big = format!("big-{i}-{}", "x".repeat(1_300_000));
        etcdctl_put_stdin(&side_ep, &config(&big, "policy.json"));
    }
    let last = etcdctl_put(&side_ep, &config("after-the-big-ones", "policy.json"));
    etcd.stop();
    etcd.run(port);
    assert!(
        all_serve(std::slice::from_ref(&gw), "after-the-big-ones", last),
        "the node did not converge on {last}:\n{}",
        gw.stderr_text()
    );
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(2.0)));
}

/// Write `value` (any bytes) at `key` with etcdctl, from its standard input.
fn etcdctl_put_bytes(endpoint: &str, key: &str, value: &[u8]) -> i64 {
    let mut child = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--dial-timeout", "1s"])
        .args(["put", "-w", "json", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run etcdctl");
    child.stdin.take().unwrap().write_all(value).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "etcdctl put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["header"]["revision"].as_i64().unwrap()
}

/// A value the node cannot use (not UTF-8) found when it re-reads the key after a compaction:
/// refused once, and the watch resumes from the store's revision. From the value's own
/// revision, behind the compaction, the watch was compacted again at once and the node
/// re-read the key in a loop.
#[test]
fn an_unusable_value_behind_a_compaction_is_refused_once() {
    if !etcd_available() {
        return;
    }
    // Bound whole: its directory lives as long as the test.
    let OneNode {
        mut etcd,
        gw,
        port,
        _dir: _d,
    } = one_node("unusable");
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(2.0)));
    etcd.stop();
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(1.0)));
    // Written on another port while the node cannot reach the member: the unusable value,
    // then writes elsewhere that move the store past it, then a compaction up to there (the
    // revision after the value's is compacted too).
    let side = free_port();
    etcd.run(side);
    let side_ep = format!("http://127.0.0.1:{side}");
    let bad = etcdctl_put_bytes(&side_ep, KEY, b"\xff\xfe not UTF-8");
    etcdctl_put_bytes(&side_ep, "/tollgate/elsewhere", b"x");
    let later = etcdctl_put_bytes(&side_ep, "/tollgate/elsewhere", b"y");
    assert!(later > bad + 1);
    let compact = etcdctl(&side_ep, &["compaction", &later.to_string()]);
    assert!(compact.status.success(), "{compact:?}");
    etcd.stop();
    etcd.run(port);
    assert!(
        eventually(SOON, || gw
            .stderr_text()
            .contains(&format!("revision {bad} refused, 1 error(s)"))),
        "{}",
        gw.stderr_text()
    );
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_config_watch_state "
    ) == Some(2.0)));
    std::thread::sleep(Duration::from_secs(2));
    let log = gw.stderr_text();
    assert_eq!(
        log.matches("re-reading the key").count(),
        1,
        "the key is re-read once:\n{log}"
    );
    assert!(log.contains("the stored value is not UTF-8"), "{log}");
    assert_eq!(hello(&gw), "unusable", "the last good config keeps serving");
    // Still following.
    let r = etcdctl_put(&etcd.endpoint(), &config("usable-again", "policy.json"));
    assert!(all_serve(std::slice::from_ref(&gw), "usable-again", r));
}

/// Certificates made by the `openssl` CLI in `dir`: `ca.pem` (the CA etcd trusts),
/// `server.pem`/`server.key` (etcd, IP SAN 127.0.0.1), `client.pem`/`client.key` (signed by the
/// CA), and `other-ca.pem`/`other.pem`/`other.key`: a second CA and a client certificate it
/// signed, which etcd does not trust.
fn make_pki(dir: &Path) {
    let script = r#"set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { key "$1.key"; openssl req -x509 -new -key "$1.key" -out "$2" -days 2 -subj "/CN=$1"; }
leaf() { # name ca-pem ca-key extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2" -CAkey "$3" -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext"
}
ca ca ca.pem
ca otherca other-ca.pem
leaf server ca.pem ca.key "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca.pem ca.key "extendedKeyUsage=clientAuth"
leaf other other-ca.pem otherca.key "extendedKeyUsage=clientAuth"
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (sh)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tollgate push` over etcds:// with the TLS options given as flags.
fn push_tls(file: &Path, url: &str, tls: &[&str], expect: Option<i64>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["push", "--config"]).arg(file).arg(url).args(tls);
    if let Some(n) = expect {
        cmd.args(["--expect-revision", &n.to_string()]);
    }
    cmd.stdin(Stdio::null())
        .output()
        .expect("run tollgate push")
}

/// Run `tollgate serve` expecting it to exit by itself within 30 s: its exit code and stderr.
fn serve_exits(args: &[&str], cwd: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .arg("serve")
        .args(args)
        .args(["--bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"])
        .args(["--workers", "1", "--no-pin"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tollgate");
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(
        status.is_some(),
        "serve did not exit within 30 s; stderr:\n{err}"
    );
    (status.and_then(|s| s.code()), err)
}

/// etcd over TLS with client certificates (`--client-cert-auth`): a node with the CA and a
/// client certificate serves the stored revision and follows pushes over etcds://; without a
/// client certificate, with one etcd does not trust, or with a CA that did not sign etcd's
/// certificate, `serve` exits non-zero at start and `push` exits 4, each with the reason; bad
/// PEM files are named at start; the private key never shows in the logs.
#[test]
fn etcds_with_client_certificates() {
    if !etcd_available() {
        return;
    }
    let dir = TempDir::new("tls");
    let pki = dir.0.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    make_pki(&pki);
    let p = |n: &str| pki.join(n).to_string_lossy().into_owned();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    let (cport, pport) = (free_port(), free_port());
    let _etcd = Etcd::start_tls(&dir.0.join("etcd-data"), cport, pport, &pki);
    std::fs::write(dir.0.join("policy.json"), POLICY).unwrap();
    let file = dir.0.join("config.yaml");
    std::fs::write(&file, config("over-tls", "policy.json")).unwrap();
    let url = format!("etcds://127.0.0.1:{cport}{KEY}");
    let mtls = ["--etcd-ca", &ca, "--etcd-cert", &cert, "--etcd-key", &key];

    // push: the TLS files from the environment.
    let out = Command::new(bin())
        .args(["push", "--config"])
        .arg(&file)
        .arg(&url)
        .env("TOLLGATE_ETCD_CA", &ca)
        .env("TOLLGATE_ETCD_CERT", &cert)
        .env("TOLLGATE_ETCD_KEY", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r1 = pushed_revision(&out);
    // etcdctl (an independent client) reads what push wrote.
    let mut ctl: Vec<String> = etcdctl_tls_args(&pki);
    ctl.extend(["get".into(), "--print-value-only".into(), KEY.into()]);
    let ctl: Vec<&str> = ctl.iter().map(String::as_str).collect();
    let got = etcdctl(&format!("https://127.0.0.1:{cport}"), &ctl);
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("over-tls"),
        "{got:?}"
    );

    // serve: the TLS files as flags.
    let mut args = vec!["serve", "--config", &url];
    args.extend(mtls);
    args.extend([
        "--bind",
        "127.0.0.1:0",
        "--admin-bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--no-pin",
    ]);
    let gw = Gateway::launch(&args, Some(&dir.0));
    assert_eq!(config_of(&gw)["revision"], r1);
    assert_eq!(hello(&gw), "over-tls");
    std::fs::write(&file, config("over-tls-2", "policy.json")).unwrap();
    let r2 = pushed_revision(&push_tls(&file, &url, &mtls, Some(r1)));
    assert!(all_serve(std::slice::from_ref(&gw), "over-tls-2", r2));

    // Without a client certificate, with one etcd does not trust, with the wrong CA.
    let other = (p("other-ca.pem"), p("other.pem"), p("other.key"));
    let no_cert: &[&str] = &["--etcd-ca", &ca];
    let untrusted_cert: &[&str] = &[
        "--etcd-ca",
        &ca,
        "--etcd-cert",
        &other.1,
        "--etcd-key",
        &other.2,
    ];
    let wrong_ca: &[&str] = &[
        "--etcd-ca",
        &other.0,
        "--etcd-cert",
        &cert,
        "--etcd-key",
        &key,
    ];
    for (tls, reason) in [
        (no_cert, "client certificate"),
        (untrusted_cert, "client certificate"),
        (wrong_ca, "not trusted"),
    ] {
        let out = push_tls(&file, &url, tls, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "push {tls:?}: {err}");
        assert!(err.contains(reason), "push {tls:?}: {err}");
        let mut args = vec!["--config", url.as_str()];
        args.extend(tls);
        let (code, err) = serve_exits(&args, &dir.0);
        assert!(
            code.is_some_and(|c| c != 0),
            "serve {tls:?}: {code:?} {err}"
        );
        assert!(err.contains(reason), "serve {tls:?}: {err}");
    }

    // etcds:// to a plaintext member: refused at start, with the hint.
    {
        let (pc, pp) = (free_port(), free_port());
        let _plain = Etcd::start(&dir.0.join("plain-data"), pc, pp);
        let plain_url = format!("etcds://127.0.0.1:{pc}{KEY}");
        let out = push_tls(&file, &plain_url, &mtls, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(err.contains("etcd://"), "{err}");
        let mut args = vec!["--config", plain_url.as_str()];
        args.extend(mtls);
        let (code, err) = serve_exits(&args, &dir.0);
        assert!(code.is_some_and(|c| c != 0), "{code:?} {err}");
        assert!(err.contains("serve plaintext"), "{err}");
    }

    // Missing or bad PEM files, a key that does not match: named at start, before any
    // connection.
    std::fs::write(
        dir.0.join("junk.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n",
    )
    .unwrap();
    let junk = dir.0.join("junk.pem").to_string_lossy().into_owned();
    let missing = dir.0.join("missing.pem").to_string_lossy().into_owned();
    for tls in [
        &["--etcd-ca", missing.as_str()][..],
        &["--etcd-ca", junk.as_str()][..],
        &["--etcd-ca", &ca, "--etcd-cert", &cert, "--etcd-key", &junk][..],
        &["--etcd-ca", &ca, "--etcd-cert", &cert, "--etcd-key", &ca][..],
        // A key that is not the certificate's.
        &[
            "--etcd-ca",
            &ca,
            "--etcd-cert",
            &cert,
            "--etcd-key",
            &other.2,
        ][..],
    ] {
        let bad = tls.last().unwrap();
        let out = push_tls(&file, &url, tls, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "push {tls:?}: {err}");
        assert!(err.contains(bad), "push {tls:?}: {err}");
        let mut args = vec!["--config", url.as_str()];
        args.extend(tls);
        let (code, err) = serve_exits(&args, &dir.0);
        assert_eq!(code, Some(1), "serve {tls:?}: {err}");
        assert!(err.contains(bad), "serve {tls:?}: {err}");
    }

    // The private key never shows in the node's log.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(!gw.stderr_text().contains(key_line), "{}", gw.stderr_text());

    // User/password on top of TLS: with etcd's auth enabled, the client certificate alone
    // (its common name is no etcd user) is refused; with the password it writes.
    let ep = format!("https://127.0.0.1:{cport}");
    for args in [
        &["user", "add", "root:Root-pw-2"][..],
        &["user", "grant-role", "root", "root"][..],
        &["auth", "enable"][..],
    ] {
        let mut a: Vec<String> = etcdctl_tls_args(&pki);
        a.extend(args.iter().map(|s| (*s).to_owned()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = etcdctl(&ep, &a);
        assert!(out.status.success(), "etcdctl {args:?}: {out:?}");
    }
    std::fs::write(&file, config("over-tls-3", "policy.json")).unwrap();
    let denied = push_tls(&file, &url, &mtls, None);
    assert_eq!(denied.status.code(), Some(4), "{denied:?}");
    let with_creds = format!("etcds://root:Root-pw-2@127.0.0.1:{cport}{KEY}");
    let out = push_tls(&file, &with_creds, &mtls, None);
    let r3 = pushed_revision(&out);
    assert!(r3 > r2);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Root-pw-2"),
        "{out:?}"
    );
}
