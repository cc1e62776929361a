//! `tollgate-load`: command line. See `loadtest/README.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use tollgate_loadtest::jwt::{self, ClaimsTemplate, JwtAlg, JwtSigner};
use tollgate_loadtest::request::{parse_header, token_values};
use tollgate_loadtest::server::{self, Role};
use tollgate_loadtest::sigv4::{AccessKey, SigV4Signer, parse_keys};
use tollgate_loadtest::tls::{Reuse, TlsClient, Verify};
use tollgate_loadtest::{Auth, Mode, RequestFactory, RunOptions, parse_target, run, swap};

#[derive(Parser, Debug)]
#[command(
    name = "tollgate-load",
    version,
    about = "Load generator and stub servers for tollgate"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Drive a loopback HTTP/1.1 server open-loop (--rate) or closed-loop (--concurrency).
    Run(Box<RunArgs>),
    /// A fast keep-alive origin answering 200 with a small body.
    Origin(OriginArgs),
    /// A Lambda-style authorizer: POST /2015-03-31/functions/function/invocations.
    Authorizer(AuthorizerArgs),
    /// Write ES256 and Ed25519 PKCS#8 keys (and RS256 via openssl) plus their JWKS.
    Keygen(KeygenArgs),
    /// Print the JWKS JSON of a private key's public half.
    Jwks(JwksArgs),
    /// Print one JWT minted as `run --jwt-key ...` would (for other generators: h2load -H).
    Mint(Box<MintArgs>),
}

#[derive(Args, Debug)]
struct MintArgs {
    #[command(flatten)]
    jwt: JwtArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Target URL (http://, loopback only).
    #[arg(long)]
    url: String,
    /// Open loop: total requests per second.
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<f64>,
    /// Closed loop: connections each sending back to back.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Measured window (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before the window (results discarded).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Connections for open loop (closed loop: --concurrency).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Pin generator threads to these CPUs (comma-separated).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Extra header 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body from a file.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Statuses counted as success (comma-separated); default any 2xx.
    #[arg(long, value_delimiter = ',')]
    expect_status: Vec<u16>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// Exit 2 if any error (including unexpected statuses) was seen.
    #[arg(long)]
    fail_on_errors: bool,

    #[command(flatten)]
    sigv4: SigV4Args,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    token: TokenArgs,
    #[command(flatten)]
    swap: SwapArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args, Debug)]
struct TlsArgs {
    /// Speak TLS (implied by an https:// URL).
    #[arg(long)]
    tls: bool,
    /// PEM file of the CA certificates that verify the server.
    #[arg(long, conflicts_with = "insecure_skip_verify")]
    cacert: Option<PathBuf>,
    /// Accept any server certificate: for benchmarking only.
    #[arg(long)]
    insecure_skip_verify: bool,
    /// Server name sent (SNI) and verified; default: the URL's host.
    #[arg(long)]
    sni: Option<String>,
    /// One request per connection: connect, (full) handshake, request, close.
    #[arg(long)]
    new_connection: bool,
    /// Like --new-connection, but offering the last session's ticket/id (resumption);
    /// the report counts the handshakes the server actually resumed.
    #[arg(long)]
    resume: bool,
    /// Offer TLS 1.3 only.
    #[arg(long)]
    tls13: bool,
    /// ALPN protocols offered (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "http/1.1")]
    alpn: Vec<String>,
}

#[derive(Args, Debug)]
struct SigV4Args {
    /// Sign every request with SigV4.
    #[arg(long)]
    sigv4: bool,
    /// Access key id (with --secret).
    #[arg(long, requires = "secret")]
    access_key: Option<String>,
    /// Secret access key.
    #[arg(long)]
    secret: Option<String>,
    /// Session token for --access-key.
    #[arg(long)]
    session_token: Option<String>,
    /// File of id:secret[:session_token] lines; keys are used round-robin.
    #[arg(long)]
    keys_file: Option<PathBuf>,
    /// SigV4 region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// SigV4 service.
    #[arg(long, default_value = "execute-api")]
    service: String,
    /// Sign every request anew (default: a key's signature is reused within the same
    /// second, when it would be byte-identical anyway).
    #[arg(long)]
    sigv4_no_cache: bool,
}

#[derive(Args, Debug)]
struct JwtArgs {
    /// PKCS#8 private key (DER or PEM) to mint JWTs with.
    #[arg(long)]
    jwt_key: Option<PathBuf>,
    /// RS256 | ES256 | EdDSA (default: from the key).
    #[arg(long)]
    jwt_alg: Option<String>,
    /// kid of the header.
    #[arg(long, default_value = "k1")]
    jwt_kid: String,
    /// iss claim.
    #[arg(long, default_value = jwt::DEFAULT_ISSUER)]
    jwt_issuer: String,
    /// aud claim.
    #[arg(long, default_value = "loadtestclient")]
    jwt_audience: String,
    /// How many distinct tokens (distinct sub/jti) to cycle through.
    #[arg(long, default_value_t = 1)]
    jwt_distinct: u64,
    /// Extra claims (JSON object) merged over the defaults.
    #[arg(long)]
    jwt_claims: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    jwt_ttl: u64,
    /// Send JWTs as 'Bearer <token>' (default: the raw token, as Cognito clients do).
    #[arg(long)]
    jwt_bearer: bool,
}

#[derive(Args, Debug)]
struct TokenArgs {
    /// TOKEN-authorizer tokens: 'Bearer {prefix}-{i:06}'.
    #[arg(long)]
    token_prefix: Option<String>,
    /// How many distinct tokens.
    #[arg(long, default_value_t = 1)]
    token_distinct: u64,
    /// Send the token without 'Bearer '.
    #[arg(long)]
    token_no_bearer: bool,
    /// Header carrying the JWT or token.
    #[arg(long, default_value = "Authorization")]
    auth_header: String,
}

#[derive(Args, Debug)]
struct SwapArgs {
    /// During the run, PUT this config file to --admin-url at --swap-per-sec.
    #[arg(long)]
    swap_config: Option<PathBuf>,
    /// Config swaps per second.
    #[arg(long, default_value_t = 10.0)]
    swap_per_sec: f64,
    /// Admin endpoint for swaps.
    #[arg(long, default_value = "http://127.0.0.1:9901/config")]
    admin_url: String,
    /// Admin bearer token.
    #[arg(long)]
    admin_token: Option<String>,
}

#[derive(Args, Debug)]
struct OriginArgs {
    /// Listen address (loopback).
    #[arg(long, default_value = "127.0.0.1:8081")]
    bind: String,
    /// Threads (one monoio runtime each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Response body.
    #[arg(long, default_value = "{\"ok\":true}")]
    body: String,
    /// Exit after this long.
    #[arg(long, default_value = "4h", value_parser = parse_duration)]
    lifetime: Duration,
}

#[derive(Args, Debug)]
struct AuthorizerArgs {
    /// Listen address (loopback).
    #[arg(long, default_value = "127.0.0.1:9000")]
    bind: String,
    /// Delay before each answer, milliseconds.
    #[arg(long, default_value_t = 1)]
    delay_ms: u64,
    /// Tokens starting with this (after 'Bearer ') are allowed.
    #[arg(long, default_value = "allow")]
    allow_prefix: String,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Exit after this long.
    #[arg(long, default_value = "4h", value_parser = parse_duration)]
    lifetime: Duration,
}

#[derive(Args, Debug)]
struct KeygenArgs {
    /// Directory to write es256.der, ed25519.der, rs256.der (if openssl works), jwks.json.
    #[arg(long)]
    out_dir: PathBuf,
}

#[derive(Args, Debug)]
struct JwksArgs {
    /// PKCS#8 private key, DER or PEM.
    #[arg(long)]
    key: PathBuf,
    /// kid.
    #[arg(long, default_value = "k1")]
    kid: String,
    /// Algorithm (default: from the key).
    #[arg(long)]
    alg: Option<String>,
}

/// `30s`, `500ms`, `2m`, `1h`, or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i..).unwrap_or("")),
        None => (s, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Origin(a) => cmd_origin(a),
        Cmd::Authorizer(a) => cmd_authorizer(a),
        Cmd::Keygen(a) => cmd_keygen(a),
        Cmd::Jwks(a) => cmd_jwks(a),
        Cmd::Mint(a) => cmd_mint(&a.jwt),
    };
    match res {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("tollgate-load: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn build_auth(a: &RunArgs) -> anyhow::Result<Auth> {
    let chosen = [
        a.sigv4.sigv4,
        a.jwt.jwt_key.is_some(),
        a.token.token_prefix.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if chosen > 1 {
        bail!("choose one of --sigv4, --jwt-key, --token-prefix");
    }
    if a.sigv4.sigv4 {
        let mut keys: Vec<AccessKey> = Vec::new();
        if let (Some(id), Some(secret)) = (&a.sigv4.access_key, &a.sigv4.secret) {
            keys.push(AccessKey {
                id: id.clone(),
                secret: secret.clone(),
                session_token: a.sigv4.session_token.clone(),
            });
        }
        if let Some(f) = &a.sigv4.keys_file {
            let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
            keys.extend(parse_keys(&text)?);
        }
        if keys.is_empty() {
            bail!("--sigv4 needs --access-key/--secret or --keys-file");
        }
        let signer = SigV4Signer::new(&keys, &a.sigv4.region, &a.sigv4.service)?;
        return Ok(Auth::SigV4 {
            signer: Arc::new(signer),
            cache: !a.sigv4.sigv4_no_cache,
        });
    }
    if a.jwt.jwt_key.is_some() {
        let t0 = std::time::Instant::now();
        let (signer, tokens) = mint_tokens(&a.jwt, a.jwt.jwt_distinct)?;
        if !a.quiet {
            eprintln!(
                "tollgate-load: minted {} {} token(s) in {:?}",
                tokens.len(),
                signer.alg().name(),
                t0.elapsed()
            );
        }
        return Ok(Auth::Tokens {
            header: a.token.auth_header.clone(),
            values: Arc::new(tokens),
        });
    }
    if let Some(prefix) = &a.token.token_prefix {
        return Ok(Auth::Tokens {
            header: a.token.auth_header.clone(),
            values: Arc::new(token_values(
                prefix,
                a.token.token_distinct,
                !a.token.token_no_bearer,
            )),
        });
    }
    Ok(Auth::None)
}

fn build_tls(a: &TlsArgs, tls: bool, hostname: &str) -> anyhow::Result<Option<TlsClient>> {
    if !tls {
        if a.cacert.is_some() || a.insecure_skip_verify || a.sni.is_some() || a.resume || a.tls13 {
            bail!("TLS options need --tls or an https:// URL");
        }
        return Ok(None);
    }
    let verify = match (&a.cacert, a.insecure_skip_verify) {
        (Some(f), false) => Verify::CaFile(f.clone()),
        (None, true) => Verify::InsecureSkipVerify,
        _ => bail!("HTTPS needs --cacert FILE or --insecure-skip-verify"),
    };
    let sni = a.sni.as_deref().unwrap_or(hostname);
    let alpn: Vec<&str> = a.alpn.iter().map(String::as_str).collect();
    Ok(Some(TlsClient::new(
        &verify, sni, a.resume, a.tls13, &alpn,
    )?))
}

/// The signer and `n` tokens of `--jwt-*` (`Bearer ` prefixed with `--jwt-bearer`).
fn mint_tokens(j: &JwtArgs, n: u64) -> anyhow::Result<(JwtSigner, Vec<String>)> {
    let Some(path) = &j.jwt_key else {
        bail!("--jwt-key is required");
    };
    let der = jwt::read_key_file(path)?;
    let alg = j.jwt_alg.as_deref().map(JwtAlg::parse).transpose()?;
    let signer = JwtSigner::from_pkcs8(&der, alg, &j.jwt_kid)?;
    let extra = j
        .jwt_claims
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .context("--jwt-claims")?;
    if extra.as_ref().is_some_and(|v| !v.is_object()) {
        bail!("--jwt-claims must be a JSON object");
    }
    let template = ClaimsTemplate {
        issuer: j.jwt_issuer.clone(),
        audience: j.jwt_audience.clone(),
        ttl_seconds: j.jwt_ttl,
        extra,
    };
    let mut tokens = jwt::mint_many(&signer, &template, n, jwt::unix_now())?;
    if j.jwt_bearer {
        tokens = tokens.into_iter().map(|t| format!("Bearer {t}")).collect();
    }
    Ok((signer, tokens))
}

fn cmd_mint(j: &JwtArgs) -> anyhow::Result<u8> {
    let (_, tokens) = mint_tokens(j, 1)?;
    for t in tokens {
        println!("{t}");
    }
    Ok(0)
}

fn cmd_run(a: RunArgs) -> anyhow::Result<u8> {
    let target = parse_target(&a.url)?;
    let tls = build_tls(&a.tls, a.tls.tls || target.tls, &target.hostname)?;
    let reuse = if a.tls.new_connection || a.tls.resume {
        Reuse::NewConnection
    } else {
        Reuse::KeepAlive
    };
    let headers = a
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let body = match (&a.body, &a.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(f)) => std::fs::read(f).with_context(|| f.display().to_string())?,
        (None, None) => Vec::new(),
    };
    let auth = build_auth(&a)?;
    let method = a.method.to_ascii_uppercase();
    let factory = RequestFactory::new(&method, target, headers, body, auth);
    let (mode, connections) = match (a.rate, a.concurrency) {
        (Some(r), _) => (Mode::Rate(r), a.connections),
        (None, Some(c)) => (Mode::Closed, c),
        (None, None) => bail!("give --rate R (open loop) or --concurrency C (closed loop)"),
    };
    let opts = RunOptions {
        mode,
        connections,
        threads: a.threads,
        duration: a.duration,
        warmup: a.warmup,
        timeout: a.timeout,
        expect: a.expect_status.clone(),
        progress: !a.quiet,
        cpus: a.cpus.clone(),
        reuse,
        tls,
    };
    let swapper = match &a.swap.swap_config {
        Some(path) => {
            let admin = parse_target(&a.swap.admin_url)?;
            let cfg = std::fs::read(path).with_context(|| path.display().to_string())?;
            let stop = Arc::new(AtomicBool::new(false));
            let (s2, rate, token) = (
                stop.clone(),
                a.swap.swap_per_sec,
                a.swap.admin_token.clone(),
            );
            let h = std::thread::spawn(move || {
                swap::swap_loop(&admin, &cfg, rate, token.as_deref(), &s2)
            });
            Some((stop, h))
        }
        None => None,
    };
    let result = run(factory, &opts);
    let swaps = swapper.map(|(stop, h)| {
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap_or_default()
    });
    let mut report = result?;
    report.swaps = swaps;
    print!("{}", report.to_table());
    if let Some(path) = &a.json {
        std::fs::write(path, report.to_json()? + "\n")
            .with_context(|| path.display().to_string())?;
    }
    let swap_failed = report.swaps.is_some_and(|s| s.failed > 0);
    Ok(
        if a.fail_on_errors && (report.error_total() > 0 || swap_failed) {
            2
        } else {
            0
        },
    )
}

fn bind_loopback(bind: &str) -> anyhow::Result<std::net::TcpListener> {
    let t = parse_target(&format!("http://{bind}/"))?;
    std::net::TcpListener::bind(t.addr).with_context(|| format!("bind {bind}"))
}

/// Waits for SIGTERM/SIGINT or the lifetime, then prints the count.
fn wait_and_report(what: &str, h: &server::ServerHandle, lifetime: Duration) -> anyhow::Result<u8> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    let t0 = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) && t0.elapsed() < lifetime {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "tollgate-load {what}: {} {}",
        h.count.load(Ordering::Relaxed),
        if what == "authorizer" {
            "invocations"
        } else {
            "requests"
        }
    );
    Ok(0)
}

fn cmd_origin(a: OriginArgs) -> anyhow::Result<u8> {
    let l = bind_loopback(&a.bind)?;
    let h = server::serve(
        l,
        Role::Origin {
            body: Arc::new(a.body.into_bytes()),
        },
        a.threads,
    )?;
    eprintln!("tollgate-load origin: listening on http://{}", h.addr);
    wait_and_report("origin", &h, a.lifetime)
}

fn cmd_authorizer(a: AuthorizerArgs) -> anyhow::Result<u8> {
    let l = bind_loopback(&a.bind)?;
    let role = Role::Authorizer {
        delay: Duration::from_millis(a.delay_ms),
        allow_prefix: a.allow_prefix,
    };
    let h = server::serve(l, role, a.threads)?;
    eprintln!("tollgate-load authorizer: listening on http://{}", h.addr);
    wait_and_report("authorizer", &h, a.lifetime)
}

fn cmd_keygen(a: KeygenArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&a.out_dir)?;
    let mut keys = Vec::new();
    for (alg, file, kid) in [
        (JwtAlg::ES256, "es256.der", "es256"),
        (JwtAlg::EdDSA, "ed25519.der", "ed25519"),
    ] {
        let der = jwt::generate_pkcs8(alg)?;
        std::fs::write(a.out_dir.join(file), &der)?;
        keys.push(JwtSigner::from_pkcs8(&der, Some(alg), kid)?.jwk());
    }
    let rsa = a.out_dir.join("rs256.der");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&rsa)
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {
            let der = std::fs::read(&rsa)?;
            keys.insert(
                0,
                JwtSigner::from_pkcs8(&der, Some(JwtAlg::RS256), "rs256")?.jwk(),
            );
        }
        _ => eprintln!(
            "tollgate-load keygen: openssl failed; no rs256.der (ring cannot generate RSA keys)"
        ),
    }
    let jwks = serde_json::json!({ "keys": keys });
    std::fs::write(
        a.out_dir.join("jwks.json"),
        serde_json::to_string_pretty(&jwks)? + "\n",
    )?;
    eprintln!(
        "tollgate-load keygen: wrote {} key(s) and jwks.json (kids rs256, es256, ed25519) to {}",
        keys.len(),
        a.out_dir.display()
    );
    Ok(0)
}

fn cmd_jwks(a: JwksArgs) -> anyhow::Result<u8> {
    let der = jwt::read_key_file(&a.key)?;
    let alg = a.alg.as_deref().map(JwtAlg::parse).transpose()?;
    let signer = JwtSigner::from_pkcs8(&der, alg, &a.kid)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "keys": [signer.jwk()] }))?
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
