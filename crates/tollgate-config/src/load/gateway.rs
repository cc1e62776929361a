//! The `gateway` section: listeners, trusted proxies, admin, limits, upstream, access log.

use super::*;

impl Loader<'_> {
    pub(super) fn gateway(&mut self, v: &Value) -> Option<GatewaySection> {
        let p = "gateway";
        let obj = self.object(v, p)?;
        let shell: Option<GatewaySection> = self.shell(
            obj,
            p,
            &[
                ("listeners", Value::Array(Vec::new())),
                ("trusted_proxies", Value::Array(Vec::new())),
            ],
        );
        let listeners = self.listeners(obj, p);
        let proxies = self.trusted_proxies(obj, p);
        let mut g = shell?;
        match listeners {
            Listeners::Absent => {}
            Listeners::Broken => return None,
            Listeners::Parsed(l) => g.listeners = l,
        }
        self.listener_tls(&mut g);
        self.client_tls(&mut g);
        g.trusted_proxies = proxies;
        self.check_host(&g);
        self.check_admin(&g);
        self.check_limits(&g.limits);
        self.check_upstream(&g);
        if let Some(f) = &g.access_log_format
            && let Err(m) = AccessLogFormat::parse(f)
        {
            self.err("gateway.access_log_format", m);
        }
        if let AccessLog::File(f) = &g.access_log {
            let resolved = self.resolve(f);
            if let Some(dir) = resolved.parent()
                && !dir.as_os_str().is_empty()
                && !dir.is_dir()
            {
                self.err(
                    "gateway.access_log",
                    format!("directory {} does not exist", dir.display()),
                );
            }
            g.access_log = AccessLog::File(resolved);
        }
        Some(g)
    }

    /// `gateway.listeners`, element by element.
    fn listeners(&mut self, obj: &Map<String, Value>, p: &str) -> Listeners {
        if !obj.contains_key("listeners") {
            return Listeners::Absent;
        }
        let mut ok = true;
        let mut listeners = Vec::new();
        let lp = join(p, "listeners");
        for (i, l) in self.list(obj, "listeners", p).into_iter().enumerate() {
            match deser::<Listener>(l, &index(&lp, i), &mut self.errors) {
                Some(l) => listeners.push(l),
                None => ok = false,
            }
        }
        if listeners.is_empty() && ok {
            self.err(lp.clone(), "at least one listener is required");
        }
        for (i, l) in listeners.iter().enumerate() {
            if l.bind.port() != 0 && listeners.iter().take(i).any(|o| o.bind == l.bind) {
                self.err(
                    join(&index(&lp, i), "bind"),
                    format!("duplicate listener address {}", l.bind),
                );
            }
        }
        if ok {
            Listeners::Parsed(listeners)
        } else {
            Listeners::Broken
        }
    }

    /// `gateway.listeners[].tls`: resolve the paths and build each listener's TLS
    /// configuration from the files now (a bad file is a config error naming it).
    fn listener_tls(&mut self, g: &mut GatewaySection) {
        let mut built = Vec::with_capacity(g.listeners.len());
        for i in 0..g.listeners.len() {
            let at = format!("gateway.listeners[{i}].tls");
            let Some(l) = g.listeners.get_mut(i) else {
                continue;
            };
            let Some(tls) = l.tls.as_mut() else {
                built.push(None);
                continue;
            };
            for c in &mut tls.certificates {
                c.cert_file = resolve_path(self.base_dir, &c.cert_file);
                c.key_file = resolve_path(self.base_dir, &c.key_file);
            }
            if let Some(ca) = &mut tls.client_auth {
                ca.truststore_file = resolve_path(self.base_dir, &ca.truststore_file);
            }
            let min_version = match tls.min_version.parse::<tollgate_tls::MinVersion>() {
                Ok(v) => v,
                Err(e) => {
                    self.err(format!("{at}.min_version"), e.to_string());
                    built.push(None);
                    continue;
                }
            };
            if tls.certificates.is_empty() {
                self.err(
                    format!("{at}.certificates"),
                    "at least one certificate is required",
                );
                built.push(None);
                continue;
            }
            let cfg = tollgate_tls::ServerTlsConfig {
                certificates: tls
                    .certificates
                    .iter()
                    .map(|c| tollgate_tls::CertificateFiles {
                        cert_file: c.cert_file.clone(),
                        key_file: c.key_file.clone(),
                    })
                    .collect(),
                min_version,
                // ALPN offers `h2` (then `http/1.1`) when the listener serves HTTP/2.
                http2: l.http2,
                client_auth: tls
                    .client_auth
                    .as_ref()
                    .map(|c| tollgate_tls::ClientAuthConfig {
                        truststore_file: c.truststore_file.clone(),
                        required: c.required,
                    }),
                session_cache_size: tollgate_tls::DEFAULT_SESSION_CACHE_SIZE,
            };
            match tollgate_tls::ServerTls::from_config(&cfg) {
                Ok(t) => built.push(Some(t)),
                Err(e) => {
                    self.err(at, e.to_string());
                    built.push(None);
                }
            }
        }
        self.listener_tls = built;
    }

    /// `gateway.upstream.ca_file`: resolve it and build the client TLS configuration (a bad
    /// file is a config error; without one, the system's roots, and if there are none the
    /// reason is kept for the `https://` calls that would need them).
    fn client_tls(&mut self, g: &mut GatewaySection) {
        if let Some(f) = &g.upstream.ca_file {
            let path = resolve_path(self.base_dir, f);
            match tollgate_tls::ClientTls::new(Some(&path)) {
                Ok(c) => self.client_tls = Some(Ok(c)),
                Err(e) => self.err("gateway.upstream.ca_file", e.to_string()),
            }
            g.upstream.ca_file = Some(path);
        } else {
            self.client_tls = Some(tollgate_tls::ClientTls::new(None).map_err(|e| e.to_string()));
        }
    }

    /// `gateway.trusted_proxies`: CIDRs (a bare address is a /32 or /128).
    fn trusted_proxies(&mut self, obj: &Map<String, Value>, p: &str) -> Vec<IpNet> {
        let mut proxies = Vec::new();
        let tp = join(p, "trusted_proxies");
        for (i, t) in self.list(obj, "trusted_proxies", p).into_iter().enumerate() {
            let at = index(&tp, i);
            match t.as_str() {
                Some(s) => match s
                    .parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                {
                    Ok(n) => proxies.push(n.trunc()),
                    Err(_) => self.err(
                        at,
                        format!("invalid CIDR \"{s}\" (expected e.g. 10.0.0.0/8 or ::1/128)"),
                    ),
                },
                None => self.err(at, format!("expected a CIDR string, found {}", kind(t))),
            }
        }
        proxies
    }

    /// Region, account, workers and CPUs.
    fn check_host(&mut self, g: &GatewaySection) {
        if !valid_region(&g.region) {
            self.err(
                "gateway.region",
                format!("invalid region \"{}\" (e.g. us-east-1)", g.region),
            );
        }
        if !is_12_digits(&g.account_id) {
            self.err(
                "gateway.account_id",
                format!("expected 12 digits (quoted), found \"{}\"", g.account_id),
            );
        }
        if g.workers > 1024 {
            self.err("gateway.workers", "at most 1024 workers");
        }
        for (i, cpu) in g.cpus.iter().enumerate() {
            if *cpu >= 4096 {
                self.err(format!("gateway.cpus[{i}]"), "a CPU id below 4096");
            } else if g.cpus.iter().take(i).any(|c| c == cpu) {
                self.err(
                    format!("gateway.cpus[{i}]"),
                    format!("CPU {cpu} is listed twice"),
                );
            }
        }
    }

    /// The admin API's address (no clash with a listener) and token.
    fn check_admin(&mut self, g: &GatewaySection) {
        for (i, l) in g.listeners.iter().enumerate() {
            if l.bind.port() != 0
                && l.bind.port() == g.admin.bind.port()
                && (l.bind.ip() == g.admin.bind.ip()
                    || l.bind.ip().is_unspecified()
                    || g.admin.bind.ip().is_unspecified())
            {
                self.err(
                    "gateway.admin.bind",
                    format!(
                        "{} conflicts with gateway.listeners[{i}].bind {}",
                        g.admin.bind, l.bind
                    ),
                );
            }
        }
        if !g.admin.bind.ip().is_loopback() && g.admin.token.is_none() {
            // The admin API can replace the whole configuration (and with it read files
            // named by paths in it): off loopback it must not be open to anyone.
            self.err(
                "gateway.admin.token",
                format!(
                    "required when gateway.admin.bind ({}) is not a loopback address",
                    g.admin.bind
                ),
            );
        }
        if let Some(t) = &g.admin.token
            && (t.is_empty() || !valid_header_value(t) || t.contains(' '))
        {
            self.err(
                "gateway.admin.token",
                "the token must be non-empty, without spaces or control characters",
            );
        }
    }

    fn check_limits(&mut self, lim: &Limits) {
        for (name, v) in [
            ("authorizer_cache_l1_bytes", lim.authorizer_cache_l1_bytes),
            ("authorizer_cache_l2_bytes", lim.authorizer_cache_l2_bytes),
        ] {
            if !(65_536..=1 << 40).contains(&v) {
                self.err(
                    format!("gateway.limits.{name}"),
                    format!("must be between 65536 and 1099511627776, found {v}"),
                );
            }
        }
        if lim.max_header_bytes < 1024 || lim.max_header_bytes > 1 << 20 {
            self.err(
                "gateway.limits.max_header_bytes",
                "must be between 1024 and 1048576",
            );
        }
        if lim.max_connections == 0 {
            self.err("gateway.limits.max_connections", "must be greater than 0");
        }
        if lim
            .max_buffered_body_bytes_per_worker
            .is_some_and(|b| b < lim.max_body_bytes)
        {
            self.err(
                "gateway.limits.max_buffered_body_bytes_per_worker",
                "must be at least gateway.limits.max_body_bytes (one largest body must fit)",
            );
        }
        for (name, val) in [
            ("header_timeout_ms", lim.header_timeout_ms),
            ("idle_timeout_ms", lim.idle_timeout_ms),
            ("drain_timeout_ms", lim.drain_timeout_ms),
            ("body_timeout_ms", lim.body_timeout_ms),
        ] {
            if val == 0 {
                self.err(format!("gateway.limits.{name}"), "must be greater than 0");
            }
        }
    }

    fn check_upstream(&mut self, g: &GatewaySection) {
        if g.upstream.connect_timeout_ms == 0 {
            self.err(
                "gateway.upstream.connect_timeout_ms",
                "must be greater than 0",
            );
        }
        if g.upstream.pool_idle_timeout_ms == 0 {
            self.err(
                "gateway.upstream.pool_idle_timeout_ms",
                "must be greater than 0",
            );
        }
    }
}

fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// What `gateway.listeners` held.
enum Listeners {
    /// Not given: the default listener.
    Absent,
    /// An element did not parse (reported).
    Broken,
    Parsed(Vec<Listener>),
}
