//! Real handshakes against a real monoio listener, with independent clients: `openssl
//! s_client`, Python's `ssl`, `curl`, raw sockets, and this crate's own client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tollgate_tls::{
    ClientAuthConfig, ClientTls, MinVersion, ServerTls, ServerTlsConfig, TlsConfigError,
};

const HS: Duration = Duration::from_secs(10);

fn subject_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("no subject line")
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_first_certificate() {
    let pki = pki("sni");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let ca = pki.ca_file.to_str().unwrap();
    let cases = [
        ("api.example.test", "CN = api.example.test"),
        ("API.Example.Test", "CN = api.example.test"),
        ("x.wild.example.test", "CN = *.wild.example.test"),
        // A wildcard covers one label only.
        ("a.b.wild.example.test", "CN = default.example.test"),
        ("unknown.test", "CN = default.example.test"),
    ];
    for (sni, want) in cases {
        let (ok, out) = s_client(srv.port(), &["-servername", sni, "-CAfile", ca]);
        assert!(ok, "{sni}: {out}");
        assert!(
            subject_line(&out).contains(want),
            "{sni}: {}",
            subject_line(&out)
        );
        assert_eq!(srv.next_event(), "ok");
    }
    let (ok, out) = s_client(srv.port(), &["-noservername", "-CAfile", ca]);
    assert!(ok, "{out}");
    assert!(subject_line(&out).contains("CN = default.example.test"));
}

#[test]
fn ecdsa_and_rsa_certificates_for_one_name_are_chosen_by_signature_scheme() {
    let pki = pki("algs");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let ca = pki.ca_file.to_str().unwrap();
    let sni = ["-servername", "api.example.test", "-CAfile", ca];
    let run = |extra: &[&str]| {
        let mut a = sni.to_vec();
        a.extend_from_slice(extra);
        let (ok, out) = s_client(srv.port(), &a);
        assert!(ok, "{extra:?}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        out
    };
    // Default preference: the ECDSA key (listed first).
    assert!(run(&[]).contains("Server public key is 256 bit"));
    // A client that can only verify RSA signatures gets the RSA certificate.
    assert!(run(&["-sigalgs", "rsa_pss_rsae_sha256"]).contains("Server public key is 2048 bit"));
    assert!(
        run(&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
            .contains("Server public key is 2048 bit")
    );
    assert!(run(&["-sigalgs", "ecdsa_secp256r1_sha256"]).contains("Server public key is 256 bit"));
}

#[test]
fn min_version_1_3_refuses_a_tls_1_2_only_client() {
    let pki = pki("minver");
    let mut cfg = ServerTlsConfig::new(pki.certs.clone());
    cfg.min_version = "1.3".parse::<MinVersion>().unwrap();
    let srv = start(&cfg, HS);
    let ca = pki.ca_file.to_str().unwrap();
    let (ok, out) = s_client(srv.port(), &["-tls1_2", "-CAfile", ca]);
    assert!(!ok, "{out}");
    assert!(out.contains("alert protocol version"), "{out}");
    assert!(srv.next_event().contains("PeerIncompatible"));
    let (ok, out) = s_client(srv.port(), &["-tls1_3", "-CAfile", ca]);
    assert!(ok && out.contains("TLSv1.3"), "{out}");

    // The default minimum (1.2) accepts it.
    let srv12 = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let (ok, out) = s_client(srv12.port(), &["-tls1_2", "-CAfile", ca]);
    assert!(ok && out.contains("Protocol  : TLSv1.2"), "{out}");
}

#[test]
fn alpn_offers_h2_only_when_asked() {
    let pki = pki("alpn");
    let ca = pki.ca_file.to_str().unwrap();
    let plain = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let mut cfg = ServerTlsConfig::new(pki.certs.clone());
    cfg.http2 = true;
    let h2 = start(&cfg, HS);

    let (ok, out) = s_client(h2.port(), &["-alpn", "h2,http/1.1", "-CAfile", ca]);
    assert!(ok && out.contains("ALPN protocol: h2"), "{out}");
    let (ok, out) = s_client(plain.port(), &["-alpn", "h2,http/1.1", "-CAfile", ca]);
    assert!(ok && out.contains("ALPN protocol: http/1.1"), "{out}");
    // No protocol in common: refused (RFC 7301 section 3.2).
    let (ok, out) = s_client(plain.port(), &["-alpn", "h2", "-CAfile", ca]);
    assert!(!ok, "{out}");
    assert!(out.contains("no application protocol"), "{out}");
    // A client without ALPN is served.
    let (ok, _) = s_client(plain.port(), &["-CAfile", ca]);
    assert!(ok);
}

#[test]
fn curl_makes_a_full_https_request_and_refuses_an_unknown_ca() {
    let pki = pki("curl");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let resolve = format!("api.example.test:{}:127.0.0.1", srv.port());
    let url = format!("https://api.example.test:{}/echo", srv.port());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&pki.ca_file)
        .args(["--resolve", &resolve, &url])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(body.contains("sni=api.example.test\n"), "{body}");
    assert!(body.contains("alpn=http/1.1\n"), "{body}");
    assert!(body.contains("version=Some(TLSv1_3)"), "{body}");
    assert!(body.contains("subjectDN=-\n"), "{body}");

    // Without the CA, curl's own verification fails (exit 60).
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--resolve", &resolve, &url])
        .env("SSL_CERT_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(60));
}

fn python_get(
    port: u16,
    sni: &str,
    ca: &std::path::Path,
    cert: Option<(&std::path::Path, &std::path::Path)>,
) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(python_client())
        .args(["get", "127.0.0.1", &port.to_string(), sni])
        .arg(ca);
    if let Some((c, k)) = cert {
        cmd.arg(c).arg(k);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mtls_setup(
    tag: &str,
    required: bool,
) -> (
    Pki,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    Server,
) {
    let pki = pki(tag);
    let dn: Vec<_> = apigw_dn("My Private CA")
        .into_iter()
        .filter(|(t, _)| *t != rcgen::DnType::CommonName)
        .collect();
    let dn_refs: Vec<_> = dn.iter().map(|(t, v)| (t.clone(), v.as_str())).collect();
    let client_ca = ca("My Private CA", &dn_refs);
    let truststore = pki.dir.write("clients-ca.pem", &client_ca.pem);
    let (cert, key) = client_cert(&pki.dir, "client", &client_ca);
    let rogue_ca = ca("Rogue CA", &[]);
    let (rcert, rkey) = client_cert(&pki.dir, "rogue", &rogue_ca);
    let mut cfg = ServerTlsConfig::new(pki.certs.clone());
    cfg.client_auth = Some(ClientAuthConfig {
        truststore_file: truststore,
        required,
    });
    let srv = start(&cfg, HS);
    (pki, cert, key, rcert, rkey, srv)
}

#[test]
fn mtls_required_passes_the_certificate_in_api_gateway_format() {
    let (pki, cert, key, rcert, rkey, srv) = mtls_setup("mtls-req", true);
    let body = python_get(
        srv.port(),
        "api.example.test",
        &pki.ca_file,
        Some((&cert, &key)),
    );
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    let field = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or("missing")
            .to_owned()
    };
    assert_eq!(
        field("subjectDN"),
        "C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Client"
    );
    assert_eq!(
        field("issuerDN"),
        "C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Private CA"
    );
    assert_eq!(field("serialNumber"), "1");
    assert_eq!(field("notBefore"), "Aug 29 00:28:21 2020 GMT");
    assert_eq!(field("notAfter"), "Aug  5 00:28:21 2120 GMT");
    let file_pem = std::fs::read_to_string(&cert).unwrap().replace('\r', "");
    assert_eq!(field("clientCertPem").replace("\\n", "\n"), file_pem);
    // OpenSSL reads the same subject, in the same order.
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "sep_comma_plus,esc_2253",
            "-in",
        ])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("subject={}", field("subjectDN"))
    );

    // No certificate, or one from an untrusted CA: the handshake fails.
    let body = python_get(srv.port(), "api.example.test", &pki.ca_file, None);
    assert!(body.starts_with("ERROR"), "{body}");
    let body = python_get(
        srv.port(),
        "api.example.test",
        &pki.ca_file,
        Some((&rcert, &rkey)),
    );
    assert!(body.starts_with("ERROR"), "{body}");
}

#[test]
fn mtls_optional_lets_clients_without_a_certificate_through() {
    let (pki, cert, key, rcert, rkey, srv) = mtls_setup("mtls-opt", false);
    let body = python_get(srv.port(), "api.example.test", &pki.ca_file, None);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("subjectDN=-\n"), "{body}");
    let body = python_get(
        srv.port(),
        "api.example.test",
        &pki.ca_file,
        Some((&cert, &key)),
    );
    assert!(body.contains("subjectDN=C=US,ST=Washington"), "{body}");
    // A certificate that does not verify still fails, even when optional.
    let body = python_get(
        srv.port(),
        "api.example.test",
        &pki.ca_file,
        Some((&rcert, &rkey)),
    );
    assert!(body.starts_with("ERROR"), "{body}");
}

fn raw(port: u16, send: &[u8], half_close: bool) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(send).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut got = Vec::new();
    // The server must close: read_to_end ends (Ok or a reset), it does not time out.
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) => assert_ne!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "server kept the connection open"
        ),
    }
    got
}

#[test]
fn bad_input_fails_cleanly_and_the_listener_keeps_serving() {
    let pki = pki("bad");
    let srv = start(
        &ServerTlsConfig::new(pki.certs.clone()),
        Duration::from_millis(1500),
    );

    // Garbage instead of a ClientHello: an alert at most, then close.
    let got = raw(
        srv.port(),
        b"\x00\x01\x02garbage garbage garbage garbage\r\n\r\n",
        false,
    );
    assert!(got.len() < 64, "{got:?}");
    let ev = srv.next_event();
    assert!(ev.starts_with("Tls(InvalidMessage"), "{ev}");

    // A truncated handshake: a record header promising 512 bytes, 20 sent, then EOF.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0x42; 9]);
    let got = raw(srv.port(), &hello, true);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(srv.next_event(), "Eof");

    // Plain HTTP on the TLS port: a plaintext 400, then close (as nginx does).
    let got = raw(srv.port(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "{text}"
    );
    assert_eq!(srv.next_event(), "PlainHttp");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{}/", srv.port()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("HTTPS port\n\n400"),
        "curl over plain HTTP: {text}"
    );
    assert_eq!(srv.next_event(), "PlainHttp");

    // A silent client is dropped when the handshake timeout passes.
    let got = raw(srv.port(), b"", false);
    assert!(got.is_empty());
    assert_eq!(srv.next_event(), "Timeout");

    // A ClientHello without SNI gets the default certificate (above), and a TLS 1.2
    // renegotiation request is refused: rustls never renegotiates.
    let (ok, out) = s_client_stdin(
        srv.port(),
        &["-tls1_2", "-CAfile", pki.ca_file.to_str().unwrap()],
        "(sleep 1; echo R; sleep 1)",
    );
    assert!(out.contains("RENEGOTIATING"), "{out}");
    assert!(out.contains("no renegotiation"), "{out}");
    let _ = ok;
    assert_eq!(srv.next_event(), "ok");

    // Still serving.
    let body = python_get(srv.port(), "api.example.test", &pki.ca_file, None);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
}

#[test]
fn sessions_resume_by_cache_and_by_ticket() {
    let pki = pki("resume");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let ca = pki.ca_file.to_str().unwrap();
    let sess = pki.dir.path("sess.pem");
    let sess = sess.to_str().unwrap();
    // TLS 1.2 session IDs (server-side cache), TLS 1.2 tickets, TLS 1.3 tickets.
    for (proto, ticket) in [("-tls1_2", "-no_ticket"), ("-tls1_2", ""), ("-tls1_3", "")] {
        let mut first = vec![
            proto,
            "-CAfile",
            ca,
            "-servername",
            "api.example.test",
            "-sess_out",
            sess,
        ];
        if !ticket.is_empty() {
            first.push(ticket);
        }
        // Keep stdin open briefly so TLS 1.3 tickets (sent after the handshake) arrive.
        let (ok, out) = s_client_stdin(srv.port(), &first, "sleep 1");
        assert!(ok, "{out}");
        let mut second = vec![
            proto,
            "-CAfile",
            ca,
            "-servername",
            "api.example.test",
            "-sess_in",
            sess,
        ];
        if !ticket.is_empty() {
            second.push(ticket);
        }
        let (ok, out) = s_client(srv.port(), &second);
        assert!(ok, "{out}");
        assert!(out.contains("Reused, TLSv1."), "{proto} {ticket}: {out}");
    }
}

#[test]
fn hot_swap_serves_new_handshakes_with_new_files_and_keeps_open_connections() {
    let pki = pki("swap");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let mut child = Command::new("python3")
        .arg(python_client())
        .args([
            "hotswap",
            "127.0.0.1",
            &srv.port().to_string(),
            "api.example.test",
        ])
        .arg(&pki.ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "1 HTTP/1.1 200 OK gen1");
    assert_eq!(lines.next().unwrap().unwrap(), "READY");

    // The same paths rewritten (a new key, O=gen2), as a reload re-reads them. First a bad
    // PEM at one of them: the build fails naming the file, and the running config keeps
    // serving; then the good files.
    let cfg = ServerTlsConfig::new(pki.certs.clone());
    let api_ec = pki.certs[1].cert_file.clone();
    std::fs::write(
        &api_ec,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = ServerTls::from_config(&cfg).unwrap_err().to_string();
    assert!(err.contains(api_ec.to_str().unwrap()), "{err}");
    let rewritten = server_cert(
        &pki.dir,
        "api-ec",
        &pki.ca,
        "api.example.test",
        "gen2",
        Alg::EcdsaP256,
    );
    assert_eq!(rewritten, pki.certs[1]);
    srv.swap(ServerTls::from_config(&cfg).unwrap());

    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "2 HTTP/1.1 200 OK gen1");
    assert_eq!(lines.next().unwrap().unwrap(), "3 HTTP/1.1 200 OK gen2");
    assert!(child.wait().unwrap().success());
}

#[test]
fn config_errors_name_the_file_and_the_problem() {
    let pki = pki("errors");
    let good = &pki.certs[1];
    let rsa = &pki.certs[2];
    let with = |cert: &std::path::Path, key: &std::path::Path| {
        ServerTls::from_config(&ServerTlsConfig::new(vec![
            tollgate_tls::CertificateFiles {
                cert_file: cert.to_path_buf(),
                key_file: key.to_path_buf(),
            },
        ]))
        .unwrap_err()
    };
    let missing = pki.dir.path("missing.pem");
    let e = with(&missing, &good.key_file);
    assert!(matches!(e, TlsConfigError::Read { .. }));
    assert!(e.to_string().starts_with(missing.to_str().unwrap()), "{e}");

    let e = with(&good.cert_file, &rsa.key_file);
    assert!(matches!(e, TlsConfigError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("does not match"), "{e}");

    let e = with(&good.key_file, &good.key_file);
    assert!(matches!(e, TlsConfigError::NoCertificate { .. }), "{e}");

    let e = with(&good.cert_file, &good.cert_file);
    assert!(matches!(e, TlsConfigError::NoPrivateKey { .. }), "{e}");

    let torn = pki
        .dir
        .write("torn.key", "-----BEGIN PRIVATE KEY-----\nMIGH\n");
    let e = with(&good.cert_file, &torn);
    assert!(matches!(e, TlsConfigError::BadPem { .. }), "{e}");
    assert!(e.to_string().contains("torn.key"), "{e}");

    // The key never shows in an error or a Debug print of the built configuration.
    use base64::Engine as _;
    for k in [&good.key_file, &rsa.key_file] {
        let key_pem = std::fs::read_to_string(k).unwrap();
        let body: String = key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap();
        let tls = ServerTls::from_config(&ServerTlsConfig::new(vec![
            pki.certs[0].clone(),
            good.clone(),
            rsa.clone(),
        ]))
        .unwrap();
        let dbg = format!("{tls:?} {e:?}");
        assert!(
            dbg.contains("SniResolver"),
            "the Debug form is a real one: {dbg}"
        );
        // A stretch of the key that is private (PKCS#8 also holds the public key, which
        // the certificate, printed in Debug, legitimately contains).
        let certs: Vec<u8> = pki
            .certs
            .iter()
            .flat_map(|c| {
                let pem = std::fs::read_to_string(&c.cert_file).unwrap();
                let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
            })
            .collect();
        let tail = der
            .windows(12)
            .find(|w| !certs.windows(12).any(|c| c == *w))
            .unwrap();
        let as_list = format!("{tail:?}");
        let as_hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dbg.contains(as_list.trim_matches(|c| c == '[' || c == ']')));
        assert!(!dbg.contains(&as_hex));
    }

    let mut cfg = ServerTlsConfig::new(vec![good.clone()]);
    cfg.client_auth = Some(ClientAuthConfig {
        truststore_file: pki.dir.write("empty.pem", ""),
        required: true,
    });
    let e = ServerTls::from_config(&cfg).unwrap_err();
    assert!(matches!(e, TlsConfigError::NoCertificate { .. }), "{e}");
    assert!(ServerTls::from_config(&ServerTlsConfig::new(vec![])).is_err());
}

#[test]
fn client_tls_verifies_against_the_ca_file_and_sends_sni() {
    let pki = pki("client");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let other = ca("Other CA", &[]);
    let other_file = pki.dir.write("other-ca.pem", &other.pem);
    let good = ClientTls::new(Some(&pki.ca_file)).unwrap();
    let wrong = ClientTls::new(Some(&other_file)).unwrap();
    let addr = srv.addr;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
        let mut s = good.connect("x.wild.example.test", tcp, HS).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        while s.read(&mut buf, 4096).await.unwrap() > 0 {}
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.contains("sni=x.wild.example.test\n"), "{text}");

        // A name the certificate does not cover, and an unknown CA: verification fails.
        let tcp = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
        let e = good.connect("other.test", tcp, HS).await.unwrap_err();
        assert!(
            e.to_string().contains("certificate not valid for name"),
            "{e}"
        );
        let tcp = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
        let e = wrong
            .connect("api.example.test", tcp, HS)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    });
}

#[test]
fn client_tls_builds_from_the_system_trust_store() {
    // The system's roots (ca-certificates) when no CA file is configured.
    let t = ClientTls::new(None).unwrap();
    assert!(!t.rustls_config().alpn_protocols.is_empty());
}

#[test]
fn monoio_writes_of_other_buffer_types_are_copied_and_sent_whole() {
    // `AsyncWriteRent` with a buffer type the stream does not know (as `monoio-compat`'s, which
    // HTTP/2 writes through; here an `Rc<Vec<u8>>`), larger than one copy chunk: three
    // pipelined requests of 9 KiB each in one 27 KiB buffer, all answered.
    let pki = pki("otherbuf");
    let srv = start(&ServerTlsConfig::new(pki.certs.clone()), HS);
    let client = ClientTls::new(Some(&pki.ca_file)).unwrap();
    let addr = srv.addr;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
        let mut s = client
            .connect("default.example.test", tcp, HS)
            .await
            .unwrap();
        let pad = "a".repeat(9000);
        let mut reqs = String::new();
        for last in [false, false, true] {
            let close = if last { "Connection: close\r\n" } else { "" };
            reqs.push_str(&format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n{close}\r\n"
            ));
        }
        let buf = std::rc::Rc::new(reqs.into_bytes());
        let len = buf.len();
        let (res, _) = monoio::io::AsyncWriteRentExt::write_all(&mut s, buf).await;
        assert_eq!(res.unwrap(), len);
        let mut out = Vec::new();
        while s.read(&mut out, 4096).await.unwrap() > 0 {}
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    });
}
