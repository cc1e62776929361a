//! Test fixtures: a PKI written to a temporary directory (rcgen, RSA keys from `openssl`),
//! and a real monoio TLS listener on 127.0.0.1 answering a tiny echo of the connection's
//! TLS facts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SerialNumber,
};
use tollgate_tls::{CertificateFiles, ServerTls, ServerTlsConfig};

pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tollgate-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn write(&self, name: &str, data: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Ca {
    pub issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub fn ca(cn: &str, dn: &[(DnType, &str)]) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (t, v) in dn {
        p.distinguished_name.push(t.clone(), *v);
    }
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

pub enum Alg {
    EcdsaP256,
    Rsa2048,
}

fn key(alg: Alg) -> KeyPair {
    match alg {
        Alg::EcdsaP256 => KeyPair::generate().unwrap(),
        Alg::Rsa2048 => {
            let out = Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .output()
                .unwrap();
            assert!(out.status.success());
            KeyPair::from_pem(std::str::from_utf8(&out.stdout).unwrap()).unwrap()
        }
    }
}

/// A server certificate for `name` (CN and DNS SAN), extra subject O, written as
/// `<file>.pem` / `<file>.key`.
pub fn server_cert(
    dir: &Dir,
    file: &str,
    ca: &Ca,
    name: &str,
    org: &str,
    alg: Alg,
) -> CertificateFiles {
    let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, org);
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let k = key(alg);
    let cert = p.signed_by(&k, &ca.issuer).unwrap();
    CertificateFiles {
        cert_file: dir.write(&format!("{file}.pem"), &cert.pem()),
        key_file: dir.write(&format!("{file}.key"), &k.serialize_pem()),
    }
}

/// A client certificate with API Gateway's documented sample fields: subject
/// `C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Client`, serial 1,
/// valid from 2020-08-29T00:28:21Z to 2120-08-05T00:28:21Z.
pub fn client_cert(dir: &Dir, file: &str, ca: &Ca) -> (PathBuf, PathBuf) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (t, v) in apigw_dn("My Client") {
        p.distinguished_name.push(t, v);
    }
    p.serial_number = Some(SerialNumber::from(1u64));
    p.not_before = time::OffsetDateTime::from_unix_timestamp(1_598_660_901).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(4_752_260_901).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let k = KeyPair::generate().unwrap();
    let cert = p.signed_by(&k, &ca.issuer).unwrap();
    (
        dir.write(&format!("{file}.pem"), &cert.pem()),
        dir.write(&format!("{file}.key"), &k.serialize_pem()),
    )
}

pub fn apigw_dn(cn: &str) -> Vec<(DnType, String)> {
    vec![
        (DnType::CountryName, "US".into()),
        (DnType::StateOrProvinceName, "Washington".into()),
        (DnType::LocalityName, "Seattle".into()),
        (DnType::OrganizationName, "Amazon Web Services".into()),
        (DnType::OrganizationalUnitName, "Security".into()),
        (DnType::CommonName, cn.into()),
    ]
}

/// The standard fixture: a server CA and four server certificates (default, exact ECDSA,
/// exact RSA for the same name, wildcard), in that order.
pub struct Pki {
    pub dir: Dir,
    pub ca: Ca,
    pub ca_file: PathBuf,
    pub certs: Vec<CertificateFiles>,
}

pub fn pki(tag: &str) -> Pki {
    let dir = Dir::new(tag);
    let ca = ca("Test Server CA", &[]);
    let ca_file = dir.write("ca.pem", &ca.pem);
    let certs = vec![
        server_cert(
            &dir,
            "default",
            &ca,
            "default.example.test",
            "gen1",
            Alg::EcdsaP256,
        ),
        server_cert(
            &dir,
            "api-ec",
            &ca,
            "api.example.test",
            "gen1",
            Alg::EcdsaP256,
        ),
        server_cert(
            &dir,
            "api-rsa",
            &ca,
            "api.example.test",
            "gen1",
            Alg::Rsa2048,
        ),
        server_cert(
            &dir,
            "wild",
            &ca,
            "*.wild.example.test",
            "gen1",
            Alg::EcdsaP256,
        ),
    ];
    Pki {
        dir,
        ca,
        ca_file,
        certs,
    }
}

/// A running listener. `tls` is read at each accept: replacing it is a hot swap.
pub struct Server {
    pub addr: SocketAddr,
    pub tls: Arc<Mutex<ServerTls>>,
    events: Mutex<mpsc::Receiver<String>>,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn swap(&self, tls: ServerTls) {
        *self.tls.lock().unwrap() = tls;
    }
    /// The next accept outcome ("ok" or the handshake error's Debug form).
    pub fn next_event(&self) -> String {
        self.events
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| "no event".into())
    }
}

pub fn start(cfg: &ServerTlsConfig, handshake_timeout: Duration) -> Server {
    let tls = Arc::new(Mutex::new(ServerTls::from_config(cfg).unwrap()));
    let (addr_tx, addr_rx) = mpsc::channel();
    let (ev_tx, ev_rx) = mpsc::channel::<String>();
    let shared = tls.clone();
    std::thread::spawn(move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let tls = shared.lock().unwrap().clone();
                let ev = ev_tx.clone();
                monoio::spawn(async move {
                    match tls.accept(stream, handshake_timeout).await {
                        Err(e) => {
                            let _ = ev.send(format!("{e:?}"));
                        }
                        Ok(s) => {
                            let _ = ev.send("ok".into());
                            serve(s).await;
                        }
                    }
                });
            }
        });
    });
    Server {
        addr: addr_rx.recv().unwrap(),
        tls,
        events: Mutex::new(ev_rx),
    }
}

/// Answer each request head with the connection's TLS facts, keep-alive, until the peer closes.
async fn serve(mut s: tollgate_tls::ServerTlsStream<monoio::net::TcpStream>) {
    let mut buf = Vec::new();
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            if buf.len() > 16 * 1024 {
                return;
            }
            match s.read(&mut buf, 4096).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let close = String::from_utf8_lossy(&buf[..end])
            .to_ascii_lowercase()
            .contains("connection: close");
        buf.drain(..end);
        let body = describe(&s);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        if close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

fn describe(s: &tollgate_tls::ServerTlsStream<monoio::net::TcpStream>) -> String {
    let c = s.connection();
    let mut out = format!(
        "sni={}\nalpn={}\nversion={:?}\n",
        s.server_name().unwrap_or("-"),
        s.alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_else(|| "-".into()),
        c.protocol_version(),
    );
    match s.client_cert_info() {
        None => out.push_str("subjectDN=-\n"),
        Some(Err(e)) => out.push_str(&format!("certError={e}\n")),
        Some(Ok(i)) => out.push_str(&format!(
            "subjectDN={}\nissuerDN={}\nserialNumber={}\nnotBefore={}\nnotAfter={}\nclientCertPem={}\n",
            i.subject_dn,
            i.issuer_dn,
            i.serial_number,
            i.not_before,
            i.not_after,
            i.client_cert_pem.replace('\n', "\\n")
        )),
    }
    out
}

/// `openssl s_client` against the server; returns (success, stdout+stderr).
pub fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    s_client_stdin(port, args, "")
}

pub fn s_client_stdin(port: u16, args: &[&str], shell_stdin: &str) -> (bool, String) {
    let connect = format!("127.0.0.1:{port}");
    let mut cmd = String::new();
    if shell_stdin.is_empty() {
        cmd.push_str("timeout 20 openssl s_client");
    } else {
        cmd.push_str(&format!("{shell_stdin} | timeout 20 openssl s_client"));
    }
    cmd.push_str(&format!(" -connect {connect}"));
    for a in args {
        cmd.push_str(&format!(" '{a}'"));
    }
    if shell_stdin.is_empty() {
        cmd.push_str(" </dev/null");
    }
    let out = Command::new("sh")
        .args(["-c", &format!("{cmd} 2>&1")])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn python_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/https_client.py")
}
