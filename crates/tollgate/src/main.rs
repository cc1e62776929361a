//! The `tollgate` binary: `serve`, `validate`, `import`, `push`, `--version`
//! (docs/configuration.md, docs/operations.md, docs/openapi.md, README).

mod etcd;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand, ValueEnum};
use mimalloc::MiMalloc;
use tollgate_config::{LogFormat, LogLevel};
use tollgate_gateway::{ApplyError, BindOverrides, IoDriver, Origin, Pinning, ServeOptions};

/// The built-in quickstart configuration (`configs/quickstart.yaml`).
const QUICKSTART: &str = include_str!("../../../configs/quickstart.yaml");

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "An edge API gateway that enforces the AWS API Gateway security model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve traffic (the built-in quickstart when no --config is given).
    Serve {
        /// The configuration file (YAML or JSON), or a key in etcd:
        /// `etcd[s]://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/KEY` (watched; credentials also
        /// from TOLLGATE_ETCD_USER / TOLLGATE_ETCD_PASSWORD; etcds:// is TLS).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        etcd_tls: EtcdTlsArgs,
        /// Replaces the first listener's address (port 0: any free port, logged at start).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Replaces gateway.admin.bind (port 0: any free port, logged at start).
        #[arg(long)]
        admin_bind: Option<SocketAddr>,
        /// Worker threads (overrides gateway.workers; 0 = one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Reload the config file when it changes.
        #[arg(long)]
        watch: bool,
        /// Which io driver the workers use (env TOLLGATE_IO_DRIVER works too).
        #[arg(long, value_enum, env = "TOLLGATE_IO_DRIVER", default_value = "auto")]
        io_driver: Driver,
        /// CPUs for the workers, in order, e.g. `2,3` (overrides gateway.cpus; each must be
        /// in the process's affinity mask).
        #[arg(long, value_delimiter = ',', conflicts_with = "no_pin")]
        cpus: Option<Vec<usize>>,
        /// Do not pin the workers to CPUs (they inherit the process's affinity mask).
        #[arg(long)]
        no_pin: bool,
        /// stderr log level (overrides gateway.log.level, also across reloads).
        #[arg(long, value_enum)]
        log_level: Option<CliLevel>,
    },
    /// Check a configuration file; print every error, one per line.
    Validate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the configuration (YAML) an OpenAPI 2/3 document with x-amazon-apigateway-*
    /// extensions stands for; warnings on stderr; exit 1 when the document is refused.
    Import {
        /// The OpenAPI document (JSON or YAML).
        file: PathBuf,
        /// The API id in method ARNs.
        #[arg(long, default_value = "api")]
        api_id: String,
        /// Refuse what tollgate cannot honour instead of warning.
        #[arg(long)]
        strict: bool,
    },
    /// Validate a configuration file, then write it to an etcd key with a compare-and-swap on
    /// the key's revision; prints the new revision. Exit 1: invalid file, 3: the key changed
    /// (stale --expect-revision), 4: etcd unreachable or refused the write.
    Push {
        /// The configuration file to store.
        #[arg(long)]
        config: PathBuf,
        /// `etcd[s]://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/KEY` (etcds:// is TLS).
        url: String,
        #[command(flatten)]
        etcd_tls: EtcdTlsArgs,
        /// Write only if the key's modification revision is N (the `revision` of GET /config or
        /// of the last push); 0: only if the key does not exist. Without it: the revision read
        /// just before the write.
        #[arg(long, value_name = "N")]
        expect_revision: Option<i64>,
    },
}

/// The PEM files for an `etcds://` config URL.
#[derive(Args)]
struct EtcdTlsArgs {
    /// etcds://: CA certificate(s) (PEM) the etcd members' certificates must chain to
    /// (default: the system trust store).
    #[arg(long, value_name = "FILE", env = "TOLLGATE_ETCD_CA")]
    etcd_ca: Option<PathBuf>,
    /// etcds://: client certificate (PEM, leaf first) for etcd's --client-cert-auth.
    #[arg(
        long,
        value_name = "FILE",
        env = "TOLLGATE_ETCD_CERT",
        requires = "etcd_key"
    )]
    etcd_cert: Option<PathBuf>,
    /// etcds://: the client certificate's private key (PEM).
    #[arg(
        long,
        value_name = "FILE",
        env = "TOLLGATE_ETCD_KEY",
        requires = "etcd_cert"
    )]
    etcd_key: Option<PathBuf>,
}

impl EtcdTlsArgs {
    fn files(self) -> etcd::TlsFiles {
        etcd::TlsFiles {
            ca: self.etcd_ca,
            cert: self.etcd_cert,
            key: self.etcd_key,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CliLevel {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(Clone, Copy, ValueEnum)]
enum Driver {
    Auto,
    #[value(name = "io_uring", alias = "uring")]
    IoUring,
    #[value(name = "epoll", alias = "legacy")]
    Epoll,
}

/// A panic anywhere in a serving gateway ends the process rather than one thread. The
/// gateway's own code denies panics (workspace lints); this is for a dependency's bug (a
/// rustls panic was met once while the TLS session code was being written). A worker that
/// died alone would leave its listener socket open: the kernel keeps queueing new
/// connections to it and nobody ever answers them. Ending the process closes them at once,
/// and the service manager starts it again (`Restart=on-failure` in
/// packaging/tollgate.service). The default hook still prints the message and backtrace.
fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::abort();
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(&config),
        Command::Import {
            file,
            api_id,
            strict,
        } => import(&file, &api_id, strict),
        Command::Push {
            config,
            url,
            etcd_tls,
            expect_revision,
        } => push(&config, &url, &etcd_tls.files(), expect_revision),
        Command::Serve {
            config,
            etcd_tls,
            bind,
            admin_bind,
            workers,
            watch,
            io_driver,
            cpus,
            no_pin,
            log_level,
        } => {
            let pinning = match (cpus, no_pin) {
                (_, true) => Pinning::Off,
                (Some(c), false) => Pinning::Cpus(c),
                (None, false) => Pinning::Config,
            };
            let level = log_level.map(|l| match l {
                CliLevel::Error => LogLevel::Error,
                CliLevel::Warn => LogLevel::Warn,
                CliLevel::Info => LogLevel::Info,
                CliLevel::Debug => LogLevel::Debug,
            });
            let overrides = BindOverrides { bind, admin_bind };
            let opts = ServeArgs {
                workers,
                watch,
                driver: io_driver,
                pinning,
                log_level: level,
                overrides,
            };
            serve(config, &etcd_tls.files(), opts)
        }
    }
}

fn import(path: &Path, api_id: &str, strict: bool) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    match tollgate_config::openapi::import_config(&text, api_id, strict) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("warning: {}: {w}", path.display());
            }
            for p in &out.placeholders {
                eprintln!("fill in: {p}");
            }
            print!("{}", out.yaml);
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            eprintln!("{}: refused, {} error(s)", path.display(), errors.len());
            ExitCode::from(1)
        }
    }
}

fn validate(path: &Path) -> ExitCode {
    match tollgate_config::load_file(path) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: valid ({} APIs, {} routes, {} authorizers, {} identities)",
                path.display(),
                c.config.apis.len(),
                c.config.apis.iter().map(|a| a.routes.len()).sum::<usize>(),
                c.config.authorizers.len(),
                c.config.identities.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            ExitCode::from(1)
        }
    }
}

fn push(file: &Path, url: &str, tls: &etcd::TlsFiles, expect: Option<i64>) -> ExitCode {
    let url = match etcd::EtcdUrl::parse(url, tls) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("tollgate push: {e}");
            return ExitCode::from(2);
        }
    };
    match etcd::push(file, &url, expect) {
        Ok((previous, revision)) => {
            // The new revision alone on stdout (for scripts), the story on stderr.
            println!("{revision}");
            if previous == 0 {
                eprintln!("tollgate push: {url}: created at revision {revision}");
            } else {
                eprintln!(
                    "tollgate push: {url}: revision {revision} written (replaced revision {previous})"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            match &e {
                etcd::PushError::Invalid(errors) => {
                    for l in errors {
                        println!("{l}");
                    }
                    eprintln!(
                        "tollgate push: {}: {} error(s); nothing written",
                        file.display(),
                        errors.len()
                    );
                }
                etcd::PushError::Stale {
                    expected: 0,
                    current,
                } => {
                    eprintln!(
                        "tollgate push: refused: {url} exists (revision {current}) and \
                         --expect-revision 0 writes only a new key; look at it, merge, and push \
                         again with --expect-revision {current}"
                    );
                }
                etcd::PushError::Stale { expected, current } => {
                    let now = if *current == 0 {
                        "does not exist".to_owned()
                    } else {
                        format!("is at revision {current}")
                    };
                    eprintln!(
                        "tollgate push: refused: {url} {now}, not {expected}: someone changed it \
                         since; look at it, merge, and push again with --expect-revision {current}"
                    );
                }
                etcd::PushError::Store(m) => eprintln!("tollgate push: {m}"),
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// A configuration read from etcd at start: what to serve, and what follows the key.
struct FromEtcd {
    rt: tokio::runtime::Runtime,
    client: etcd_client::Client,
    url: etcd::EtcdUrl,
    base_dir: PathBuf,
    mod_revision: i64,
    store_revision: i64,
}

/// `serve`'s options other than the config source.
struct ServeArgs {
    workers: Option<usize>,
    watch: bool,
    driver: Driver,
    pinning: Pinning,
    log_level: Option<LogLevel>,
    overrides: BindOverrides,
}

fn serve(config: Option<PathBuf>, etcd_tls: &etcd::TlsFiles, args: ServeArgs) -> ExitCode {
    abort_on_panic();
    let ServeArgs {
        workers,
        watch,
        driver,
        pinning,
        log_level,
        overrides,
    } = args;
    tollgate_gateway::logging::init(log_level, LogLevel::Info, LogFormat::Text);
    let etcd_url = config
        .as_ref()
        .and_then(|p| p.to_str())
        .filter(|s| etcd::is_etcd_url(s))
        .map(|s| etcd::EtcdUrl::parse(s, etcd_tls));
    let mut from_etcd = None;
    let loaded = match (&config, etcd_url) {
        (_, Some(Err(e))) => Err(tollgate_config::ConfigErrors(vec![
            tollgate_config::ConfigError::new("config", e),
        ])),
        (_, Some(Ok(url))) => {
            // Relative paths in a stored config resolve against this node's working directory.
            let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match etcd::runtime().map_err(|e| vec![e]).and_then(|rt| {
                etcd::initial_read(&rt, &url).map(|(client, stored)| (rt, client, stored))
            }) {
                Ok((rt, client, stored)) => {
                    log::info!(
                        "tollgate: etcd: {url}: read revision {} (store revision {})",
                        stored.mod_revision,
                        stored.store_revision
                    );
                    let r = tollgate_config::load_str(&stored.text, &base_dir);
                    from_etcd = Some(FromEtcd {
                        rt,
                        client,
                        url,
                        base_dir,
                        mod_revision: stored.mod_revision,
                        store_revision: stored.store_revision,
                    });
                    r
                }
                Err(errors) => Err(tollgate_config::ConfigErrors(
                    errors
                        .into_iter()
                        .map(|e| {
                            let m = e.strip_prefix("config: ").unwrap_or(&e).to_owned();
                            tollgate_config::ConfigError::new("config", m)
                        })
                        .collect(),
                )),
            }
        }
        (Some(p), None) => tollgate_config::load_file(p),
        (None, None) => tollgate_config::load_str(QUICKSTART, Path::new(".")),
    };
    let compiled = match loaded {
        Ok(c) => {
            let l = c.config.gateway.log;
            tollgate_gateway::logging::configure(l.level, l.format);
            for w in &c.warnings {
                log::warn!("config: {w}");
            }
            c
        }
        Err(errors) => {
            // The same lines as `validate` prints (one error per line, path first), then
            // one log event.
            for e in &errors.0 {
                eprintln!("{e}");
            }
            log::error!(
                "tollgate: invalid configuration, {} error(s); not serving",
                errors.0.len()
            );
            return ExitCode::from(1);
        }
    };
    let quickstart = config.is_none();
    let origin = match (&from_etcd, quickstart) {
        (Some(f), _) => Origin::Etcd {
            revision: f.mod_revision,
        },
        (None, true) => Origin::Builtin,
        (None, false) => Origin::File,
    };
    // Listeners in config order (as `listen_addrs`): which serve HTTPS.
    let https: Vec<bool> = compiled.listener_tls.iter().map(Option::is_some).collect();
    let opts = ServeOptions {
        compiled,
        workers,
        io_driver: match driver {
            Driver::Auto => IoDriver::Auto,
            Driver::IoUring => IoDriver::IoUring,
            Driver::Epoll => IoDriver::Legacy,
        },
        // A config held in etcd has no file to reload.
        config_path: if from_etcd.is_some() {
            None
        } else {
            config.clone()
        },
        pinning,
        origin,
        overrides,
    };
    let gw = match tollgate_gateway::start(opts) {
        Ok(g) => g,
        Err(e) => {
            log::error!("tollgate: {e}");
            return ExitCode::from(1);
        }
    };
    for (i, a) in gw.listen_addrs().iter().enumerate() {
        let scheme = if https.get(i).copied().unwrap_or(false) {
            "https"
        } else {
            "http"
        };
        log::info!(
            "tollgate: listening on {scheme}://{a} (workers: {}, io: {})",
            gw.workers(),
            gw.driver().name()
        );
    }
    let placed: Vec<String> = gw
        .cpus()
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(c) => format!("w{i}->cpu{c}"),
            None => format!("w{i}->unpinned"),
        })
        .collect();
    log::info!("tollgate: worker placement: {}", placed.join(" "));
    log::info!("tollgate: admin on http://{}", gw.admin_addr());
    if quickstart && let Some(a) = gw.listen_addrs().first() {
        log::info!(
            "tollgate: serving the built-in quickstart config. Try:\n\
             curl -i http://{a}/prod/hello\n\
             curl -i -X POST http://{a}/prod/anything/else -d payload   # greedy /{{proxy+}} route\n\
             curl -i http://{a}/nostage/hello   # unknown stage: 403 Missing Authentication Token\n\
             curl -s http://{}/metrics",
            gw.admin_addr()
        );
    }
    let shared = gw.shared();
    // Signals: TERM/INT drain and exit 0; HUP reloads the file.
    let sh = shared.clone();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(mut signals) => {
            let _ = std::thread::Builder::new()
                .name("tollgate-signals".into())
                .spawn(move || {
                    tollgate_gateway::lower_priority_of_current_thread();
                    for sig in signals.forever() {
                        if sig == signal_hook::consts::SIGHUP {
                            report_reload("SIGHUP", sh.reload_file());
                        } else {
                            log::info!("tollgate: draining (signal {sig})");
                            sh.begin_shutdown();
                            break;
                        }
                    }
                });
        }
        Err(e) => log::error!("tollgate: cannot install signal handlers: {e}"),
    }
    if let Some(f) = from_etcd {
        shared
            .watch_status()
            .set_state(tollgate_gateway::WatchState::Reconnecting);
        shared.set_reloader(etcd::reloader(
            f.url.clone(),
            f.base_dir.clone(),
            std::sync::Arc::downgrade(&shared),
        ));
        let follower = etcd::Follower {
            url: f.url,
            shared: shared.clone(),
            base_dir: f.base_dir,
            last_seen: f.mod_revision,
            watch_from: f.store_revision + 1,
        };
        if let Err(e) = etcd::spawn_follower(f.rt, follower, f.client) {
            log::error!("tollgate: cannot start the etcd watch: {e}");
            shared.begin_shutdown();
        }
    } else if watch && let Some(path) = config {
        {
            let sh = shared.clone();
            let _ = std::thread::Builder::new()
                .name("tollgate-watch".into())
                .spawn(move || watch_file(&path, &sh));
        }
    }
    gw.wait();
    log::info!("tollgate: stopped");
    ExitCode::SUCCESS
}

fn report_reload(why: &str, r: Result<u64, ApplyError>) {
    match r {
        Ok(v) => log::info!("tollgate: {why}: config version {v} is live"),
        Err(ApplyError::Invalid(errors)) => {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            log::warn!(
                "tollgate: {why}: config rejected, the running one keeps serving:\n{}",
                list.join("\n")
            );
        }
    }
}

fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn watch_file(path: &Path, shared: &tollgate_gateway::Shared) {
    tollgate_gateway::lower_priority_of_current_thread();
    let mut last = modified(path);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if shared.is_shutting_down() {
            return;
        }
        let now = modified(path);
        if now.is_some() && now != last {
            last = now;
            report_reload("--watch", shared.reload_file());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// Set in the child process the test below starts.
    const CHILD: &str = "TOLLGATE_TEST_PANIC_CHILD";

    /// With the hook set, a panic on any thread (a worker, say) ends the whole process with
    /// SIGABRT, after the default hook has printed the message. The panic runs in a child
    /// process (this test binary, started again for this one test), so the abort ends the child
    /// and the test reads how it ended.
    #[test]
    fn a_panic_on_another_thread_aborts_the_process() {
        if std::env::var_os(CHILD).is_some() {
            super::abort_on_panic();
            let t = std::thread::Builder::new()
                .name("worker-0".into())
                .spawn(|| panic!("a dependency's bug"))
                .unwrap();
            let _ = t.join();
            // Reached only if the panic did not end the process.
            std::process::exit(0);
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::a_panic_on_another_thread_aborts_the_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(6),
            "the process should end with SIGABRT: {:?}\n{stderr}",
            out.status
        );
        assert!(stderr.contains("a dependency's bug"), "{stderr}");
        assert!(stderr.contains("worker-0"), "{stderr}");
    }
}
