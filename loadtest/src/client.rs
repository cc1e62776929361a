//! The load engine: `threads` monoio runtimes, each driving its share of keep-alive
//! connections as tasks, open loop (fixed rate, paced per connection) or closed loop
//! (send, wait, send).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::LoadError;
use crate::h1::{self, Framing};
use crate::pacing::{Schedule, latency_start, wait_before};
use crate::request::RequestFactory;
use crate::stats::{ErrorCounts, Report, new_histogram, summarize};
use crate::tls::{Reuse, TlsClient, TlsConn, TlsCounts};

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A fixed total rate (requests per second), spread over the connections.
    Rate(f64),
    /// Each connection sends its next request as soon as the previous answer is in.
    Closed,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Open or closed loop.
    pub mode: Mode,
    /// Connections (closed loop: the concurrency).
    pub connections: usize,
    /// Generator threads (one monoio runtime each).
    pub threads: usize,
    /// Measured window.
    pub duration: Duration,
    /// Time before the window whose results are discarded.
    pub warmup: Duration,
    /// Per-request timeout (connect, write and whole response).
    pub timeout: Duration,
    /// Statuses that count as success; empty = any 2xx.
    pub expect: Vec<u16>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Pin generator thread `t` to CPU `cpus[t % len]` (empty: no pinning).
    pub cpus: Vec<usize>,
    /// Keep-alive, or one request per connection.
    pub reuse: Reuse,
    /// HTTPS: the client TLS configuration (`None`: plain HTTP).
    pub tls: Option<TlsClient>,
}

impl RunOptions {
    fn check(&self) -> Result<(), LoadError> {
        if self.connections == 0 || self.threads == 0 {
            return Err(LoadError::Option(
                "connections and threads must be >= 1".into(),
            ));
        }
        if self.duration.is_zero() {
            return Err(LoadError::Option("duration must be > 0".into()));
        }
        if let Mode::Rate(r) = self.mode
            && !(r.is_finite() && r > 0.0)
        {
            return Err(LoadError::Option("rate must be > 0".into()));
        }
        Ok(())
    }
}

/// Counters the progress line reads while the run goes.
#[derive(Debug, Default)]
struct Live {
    done: AtomicU64,
    errors: AtomicU64,
}

/// What one request ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Status(u16),
    Connect,
    Timeout,
    Write,
    Read,
    Parse,
    Tls,
}

struct ThreadStats {
    hist: Histogram<u64>,
    warm: Histogram<u64>,
    status: BTreeMap<u16, u64>,
    ok: u64,
    requests: u64,
    errors: ErrorCounts,
    connects: u64,
    late_sends: u64,
    missed: u64,
    tls: TlsCounts,
}

impl ThreadStats {
    fn new() -> Result<Self, LoadError> {
        Ok(Self {
            hist: new_histogram()?,
            warm: new_histogram()?,
            status: BTreeMap::new(),
            ok: 0,
            requests: 0,
            errors: ErrorCounts::default(),
            connects: 0,
            late_sends: 0,
            missed: 0,
            tls: TlsCounts::default(),
        })
    }

    fn merge(&mut self, o: &ThreadStats) {
        let _ = self.hist.add(&o.hist);
        let _ = self.warm.add(&o.warm);
        for (k, v) in &o.status {
            *self.status.entry(*k).or_default() += v;
        }
        self.ok += o.ok;
        self.requests += o.requests;
        self.errors.merge(&o.errors);
        self.connects += o.connects;
        self.late_sends += o.late_sends;
        self.missed += o.missed;
        self.tls.merge(&o.tls);
    }
}

struct Ctx {
    factory: RequestFactory,
    opts: RunOptions,
    start: Instant,
    live: Arc<Live>,
}

impl Ctx {
    fn is_ok(&self, status: u16) -> bool {
        if self.opts.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.opts.expect.contains(&status)
        }
    }

    fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    fn total(&self) -> Duration {
        self.opts.warmup + self.opts.duration
    }

    /// Records one outcome. `measured`: it belongs to the window (else warm-up).
    fn record(&self, st: &RefCell<ThreadStats>, out: Outcome, latency: Duration, measured: bool) {
        let mut st = st.borrow_mut();
        let ok = matches!(out, Outcome::Status(s) if self.is_ok(s));
        self.live.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.live.errors.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        if !measured {
            if let Outcome::Status(_) = out {
                st.warm.saturating_record(ns);
            }
            return;
        }
        match out {
            Outcome::Status(s) => {
                st.hist.saturating_record(ns);
                st.requests += 1;
                *st.status.entry(s).or_default() += 1;
                if ok {
                    st.ok += 1;
                } else {
                    st.errors.status += 1;
                }
            }
            Outcome::Connect => st.errors.connect += 1,
            Outcome::Timeout => st.errors.timeout += 1,
            Outcome::Write => st.errors.write += 1,
            Outcome::Read => st.errors.read += 1,
            Outcome::Parse => st.errors.parse += 1,
            Outcome::Tls => st.errors.tls += 1,
        }
    }
}

/// The transport of a connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

/// One connection.
struct Conn {
    stream: Stream,
    acc: Vec<u8>,
    rb: Vec<u8>,
}

const READ_BUF: usize = 16 * 1024;

impl Conn {
    /// `measured`: the request this connection is opened for belongs to the window (its
    /// handshake is then counted).
    async fn open(ctx: &Ctx, st: &RefCell<ThreadStats>, measured: bool) -> Result<Conn, Outcome> {
        let addr = ctx.factory.target().addr;
        let stream =
            match monoio::time::timeout(ctx.opts.timeout, TcpStream::connect_addr(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(_)) => return Err(Outcome::Connect),
                Err(_) => return Err(Outcome::Timeout),
            };
        let _ = stream.set_nodelay(true);
        st.borrow_mut().connects += 1;
        let stream = match &ctx.opts.tls {
            None => Stream::Plain(stream),
            Some(tls) => Stream::Tls(Box::new(
                Self::handshake(ctx, st, tls, stream, measured).await?,
            )),
        };
        Ok(Conn {
            stream,
            acc: Vec::with_capacity(READ_BUF),
            rb: Vec::new(),
        })
    }

    /// Runs the TLS handshake and counts it (full or resumed) in `st.tls`.
    async fn handshake(
        ctx: &Ctx,
        st: &RefCell<ThreadStats>,
        tls: &TlsClient,
        stream: TcpStream,
        measured: bool,
    ) -> Result<TlsConn, Outcome> {
        let mut conn = tls.start(stream).map_err(|_| Outcome::Tls)?;
        let res = monoio::time::timeout(ctx.opts.timeout, conn.handshake()).await;
        let mut st = st.borrow_mut();
        match res {
            Ok(Ok(hs)) => {
                if measured {
                    let c = &mut st.tls;
                    c.handshakes += 1;
                    if hs.resumed {
                        c.resumed += 1;
                    } else {
                        c.full += 1;
                    }
                    if c.version.is_none() {
                        (c.version, c.alpn) = conn.negotiated();
                    }
                }
                Ok(conn)
            }
            Ok(Err(_)) => {
                if measured {
                    st.tls.failed += 1;
                }
                Err(Outcome::Tls)
            }
            Err(_) => {
                if measured {
                    st.tls.failed += 1;
                }
                Err(Outcome::Timeout)
            }
        }
    }

    async fn write_all(&mut self, req: Vec<u8>) -> Result<(), Outcome> {
        match &mut self.stream {
            Stream::Plain(s) => {
                let (res, _) = s.write_all(req).await;
                res.map(|_| ()).map_err(|_| Outcome::Write)
            }
            Stream::Tls(t) => t.write_all(&req).await.map_err(|_| Outcome::Write),
        }
    }

    /// Reads more of the response into `acc`; `Ok(0)`: the peer closed.
    async fn read_more(&mut self) -> Result<usize, Outcome> {
        match &mut self.stream {
            Stream::Plain(s) => {
                self.rb.clear();
                if self.rb.capacity() < READ_BUF {
                    self.rb.reserve(READ_BUF);
                }
                let (res, b) = s.read(std::mem::take(&mut self.rb)).await;
                self.rb = b;
                let n = res.map_err(|_| Outcome::Read)?;
                self.acc
                    .extend_from_slice(self.rb.get(..n).unwrap_or_default());
                Ok(n)
            }
            Stream::Tls(t) => t.read(&mut self.acc).await.map_err(|_| Outcome::Read),
        }
    }

    /// Writes `req`, reads one response; returns (status, server-wants-close).
    async fn roundtrip(&mut self, req: Vec<u8>, head: bool) -> Result<(u16, bool), Outcome> {
        self.write_all(req).await?;
        loop {
            let mut until_close: Option<(u16, usize)> = None;
            if let Some(h) = h1::parse_response(&self.acc, head).map_err(|_| Outcome::Parse)? {
                if (100..200).contains(&h.status) && h.status != 101 {
                    self.acc.drain(..h.head_len);
                    continue;
                }
                let body = self.acc.get(h.head_len..).unwrap_or_default();
                if let Some(n) = h1::body_len(h.framing, body, None).map_err(|_| Outcome::Parse)? {
                    self.acc.drain(..h.head_len + n);
                    return Ok((h.status, h.close));
                }
                if h.framing == Framing::UntilClose {
                    until_close = Some((h.status, h.head_len));
                }
            }
            if self.read_more().await? == 0 {
                return match until_close {
                    Some((status, _)) => {
                        self.acc.clear();
                        Ok((status, true))
                    }
                    None => Err(Outcome::Read),
                };
            }
        }
    }
}

/// Sends request `seq` on `slot` (connecting first if needed), bounded by the timeout.
async fn exchange(
    ctx: &Ctx,
    st: &RefCell<ThreadStats>,
    slot: &mut Option<Conn>,
    seq: u64,
    measured: bool,
) -> Outcome {
    let mut req = Vec::with_capacity(512);
    if ctx.factory.build(seq, SystemTime::now(), &mut req).is_err() {
        return Outcome::Write;
    }
    let conn = match slot {
        Some(c) => c,
        None => match Conn::open(ctx, st, measured).await {
            Ok(c) => slot.insert(c),
            Err(o) => return o,
        },
    };
    let head = ctx.factory.is_head();
    match monoio::time::timeout(ctx.opts.timeout, conn.roundtrip(req, head)).await {
        Ok(Ok((status, close))) => {
            if close || ctx.opts.reuse == Reuse::NewConnection {
                *slot = None;
            }
            Outcome::Status(status)
        }
        Ok(Err(o)) => {
            *slot = None;
            o
        }
        Err(_) => {
            *slot = None;
            Outcome::Timeout
        }
    }
}

/// Sleeps until the common start instant.
async fn wait_for_start(ctx: &Ctx) {
    let pre = ctx.start.saturating_duration_since(Instant::now());
    if !pre.is_zero() {
        monoio::time::sleep(pre).await;
    }
}

/// Open loop: connection `index` of `total` at `rate`.
async fn open_loop(
    ctx: Rc<Ctx>,
    st: Rc<RefCell<ThreadStats>>,
    index: usize,
    total: usize,
    rate: f64,
) {
    let Some(sched) = Schedule::new(rate, index, total) else {
        return;
    };
    let end = ctx.total();
    // Stop even if the server stalls: at most one timeout after the end.
    let hard_end = end + ctx.opts.timeout;
    let late_margin = Duration::from_millis(1);
    let mut slot: Option<Conn> = None;
    let mut prev_done: Option<Duration> = None;
    let mut k: u64 = 0;
    wait_for_start(&ctx).await;
    loop {
        let intended = sched.offset(k);
        if intended >= end || ctx.elapsed() >= hard_end {
            break;
        }
        while let Some(w) = wait_before(intended, ctx.elapsed()) {
            monoio::time::sleep(w).await;
        }
        let sent = ctx.elapsed();
        let measured = intended >= ctx.opts.warmup;
        if measured && prev_done.is_some_and(|d| d > intended + late_margin) {
            st.borrow_mut().late_sends += 1;
        }
        let from = latency_start(intended, sent, prev_done);
        let seq = index as u64 + k * total as u64;
        let out = exchange(&ctx, &st, &mut slot, seq, measured).await;
        let done = ctx.elapsed();
        prev_done = Some(done);
        ctx.record(&st, out, done.saturating_sub(from), measured);
        k += 1;
        if matches!(out, Outcome::Connect) {
            // Do not spin on a refused port; the schedule keeps its slots.
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let due = sched.count_before(end);
    st.borrow_mut().missed += due.saturating_sub(k);
}

/// Closed loop: send, wait, send.
async fn closed_loop(ctx: Rc<Ctx>, st: Rc<RefCell<ThreadStats>>, index: usize, total: usize) {
    let end = ctx.total();
    let mut slot: Option<Conn> = None;
    let mut k: u64 = 0;
    wait_for_start(&ctx).await;
    loop {
        let sent = ctx.elapsed();
        if sent >= end {
            break;
        }
        let seq = index as u64 + k * total as u64;
        let measured = sent >= ctx.opts.warmup;
        let out = exchange(&ctx, &st, &mut slot, seq, measured).await;
        let done = ctx.elapsed();
        ctx.record(&st, out, done.saturating_sub(sent), measured);
        k += 1;
        if matches!(out, Outcome::Connect) {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn thread_main(
    factory: RequestFactory,
    opts: RunOptions,
    start: Instant,
    live: Arc<Live>,
    mine: Vec<usize>,
) -> Result<ThreadStats, LoadError> {
    let total = opts.connections;
    let mode = opts.mode;
    let ctx = Rc::new(Ctx {
        factory,
        opts,
        start,
        live,
    });
    let st = Rc::new(RefCell::new(ThreadStats::new()?));
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(async {
        let mut handles = Vec::with_capacity(mine.len());
        for index in mine {
            let (ctx, st) = (ctx.clone(), st.clone());
            handles.push(monoio::spawn(async move {
                match mode {
                    Mode::Rate(r) => open_loop(ctx, st, index, total, r).await,
                    Mode::Closed => closed_loop(ctx, st, index, total).await,
                }
            }));
        }
        for h in handles {
            h.await;
        }
    });
    drop(ctx);
    let out = Rc::try_unwrap(st)
        .map(RefCell::into_inner)
        .map_err(|_| LoadError::Option("connection task still running".into()))?;
    Ok(out)
}

fn progress_loop(live: Arc<Live>, stop: Arc<AtomicBool>, start: Instant, warmup: Duration) {
    let mut last = 0u64;
    let mut tick = 1u64;
    while !stop.load(Ordering::Relaxed) {
        let at = start + Duration::from_secs(tick);
        while Instant::now() < at {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let done = live.done.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        let phase = if Duration::from_secs(tick) <= warmup {
            " (warm-up)"
        } else {
            ""
        };
        eprintln!(
            "[{tick:>4}s] {:>8} rps  {done:>10} done  {errors:>6} errors{phase}",
            done - last
        );
        last = done;
        tick += 1;
    }
}

/// Runs the load and returns the report. Blocks for `warmup + duration` (plus at most one
/// timeout for stragglers).
pub fn run(factory: RequestFactory, opts: &RunOptions) -> Result<Report, LoadError> {
    opts.check()?;
    let threads = opts.threads.min(opts.connections);
    let live = Arc::new(Live::default());
    let start = Instant::now() + Duration::from_millis(50);
    let mut joins = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine: Vec<usize> = (0..opts.connections).filter(|i| i % threads == t).collect();
        let (f, o, l) = (factory.clone(), opts.clone(), live.clone());
        let cpu = (!opts.cpus.is_empty())
            .then(|| opts.cpus.get(t % opts.cpus.len()).copied())
            .flatten();
        joins.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        let _ = monoio::utils::bind_to_cpu_set([cpu]);
                    }
                    thread_main(f, o, start, l, mine)
                })?,
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = opts.progress.then(|| {
        let (l, s, w) = (live.clone(), stop.clone(), opts.warmup);
        std::thread::spawn(move || progress_loop(l, s, start, w))
    });
    let mut all = ThreadStats::new()?;
    let mut first_err = None;
    for j in joins {
        match j.join() {
            Ok(Ok(s)) => all.merge(&s),
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => {
                first_err =
                    first_err.or(Some(LoadError::Option("generator thread panicked".into())))
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let duration_s = opts.duration.as_secs_f64();
    let latency_corrected = match opts.mode {
        Mode::Rate(_) => None,
        Mode::Closed => {
            let base = if all.warm.is_empty() {
                &all.hist
            } else {
                &all.warm
            };
            let interval = base.mean().round() as u64;
            (interval > 0).then(|| summarize(&all.hist.clone_correct(interval)))
        }
    };
    Ok(Report {
        mode: match opts.mode {
            Mode::Rate(_) => "open".into(),
            Mode::Closed => "closed".into(),
        },
        url: factory.target().url.clone(),
        target_rps: match opts.mode {
            Mode::Rate(r) => Some(r),
            Mode::Closed => None,
        },
        connections: opts.connections,
        threads,
        duration_s,
        requests: all.requests,
        ok: all.ok,
        throughput_rps: (all.requests as f64 / duration_s * 10.0).round() / 10.0,
        latency: summarize(&all.hist),
        latency_corrected,
        status: all.status,
        errors: all.errors,
        connects: all.connects,
        late_sends: all.late_sends,
        missed: all.missed,
        swaps: None,
        tls: opts.tls.as_ref().map(|t| TlsCounts {
            resumption_offered: t.resumes(),
            ..all.tls.clone()
        }),
    })
}
