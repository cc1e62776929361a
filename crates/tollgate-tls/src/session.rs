//! The TLS state machine a [`crate::TlsStream`] drives, behind one small interface:
//! rustls' buffered `ClientConnection` for upstream connections, and, for the server side,
//! rustls' *unbuffered* connection with buffers owned here ([`ServerSession`]).
//!
//! Why the server side is unbuffered: a buffered rustls connection keeps a 4 KiB record buffer
//! for its whole life, and an idle keep-alive connection cannot give it back. Here every
//! buffer (ciphertext in, ciphertext out, decrypted plaintext) belongs to the session and is
//! released when the connection goes idle, so an idle TLS connection holds only rustls'
//! state (keys, the protocol state) — see "Idle TLS connections" in docs/benchmarks/tuning.md.

use std::cell::RefCell;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{ClientConnection, CommonState};

/// Ciphertext a server session holds unprocessed at most: a handshake message may span
/// several records (a client certificate chain), which rustls joins in this buffer, so it is
/// allowed rustls' own bound for a handshake message (64 KiB) plus one full record.
const MAX_INCOMING: usize = 64 * 1024 + 16 * 1024 + 2048 + 5;

/// What processing new records found.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Decrypted plaintext is waiting to be read.
    pub plaintext: bool,
    /// The peer sent close_notify.
    pub peer_closed: bool,
}

/// A TLS connection's state machine as [`crate::TlsStream`] drives it (the subset of
/// rustls' buffered `ConnectionCommon` it uses).
pub trait Session {
    /// The handshake's outcome: version, ALPN, peer certificates.
    fn common(&self) -> &CommonState;
    /// Cap the plaintext waiting to be sent (buffered connections).
    fn set_limit(&mut self, limit: usize);
    /// Take ciphertext from `rd`; `Ok(0)` with bytes left in `rd`: no room.
    fn read_tls(&mut self, rd: &mut &[u8]) -> io::Result<usize>;
    /// The transport reached EOF.
    fn read_eof(&mut self) -> io::Result<()>;
    /// Process the records received.
    fn process_new_packets(&mut self) -> Result<Progress, rustls::Error>;
    /// Decrypted plaintext: `Err(WouldBlock)` none yet, `Ok(0)` close_notify received,
    /// `Err(UnexpectedEof)` the transport closed without one.
    fn read_plain(&mut self, dst: &mut [u8]) -> io::Result<usize>;
    /// Encrypt (some of) `data`; the ciphertext waits for [`Session::write_tls`].
    fn write_plain(&mut self, data: &[u8]) -> io::Result<usize>;
    /// Append the ciphertext waiting to be sent to `out`.
    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize>;
    fn wants_write(&self) -> bool;
    fn wants_read(&self) -> bool;
    fn queue_close_notify(&mut self);
    /// The connection is idle: give back the buffers that hold nothing.
    fn release_idle(&mut self) {}
}

impl Session for ClientConnection {
    fn common(&self) -> &CommonState {
        self
    }

    fn set_limit(&mut self, limit: usize) {
        self.set_buffer_limit(Some(limit));
    }

    fn read_tls(&mut self, rd: &mut &[u8]) -> io::Result<usize> {
        rustls::ConnectionCommon::read_tls(self, rd)
    }

    fn read_eof(&mut self) -> io::Result<()> {
        rustls::ConnectionCommon::read_tls(self, &mut io::empty()).map(|_| ())
    }

    fn process_new_packets(&mut self) -> Result<Progress, rustls::Error> {
        rustls::ConnectionCommon::process_new_packets(self).map(|s| Progress {
            plaintext: s.plaintext_bytes_to_read() > 0,
            peer_closed: s.peer_has_closed(),
        })
    }

    fn read_plain(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.reader(), dst)
    }

    fn write_plain(&mut self, data: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.writer(), data)
    }

    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        rustls::ConnectionCommon::write_tls(self, out)
    }

    fn wants_write(&self) -> bool {
        CommonState::wants_write(self)
    }

    fn wants_read(&self) -> bool {
        CommonState::wants_read(self)
    }

    fn queue_close_notify(&mut self) {
        self.send_close_notify();
    }
}

thread_local! {
    /// The SNI name of the ClientHello the certificate resolver saw last on this thread.
    /// rustls' unbuffered server connection does not expose it; the handshake step that
    /// resolves the certificate runs synchronously inside [`ServerSession`]'s processing, which
    /// clears this before and takes it after.
    static LAST_SNI: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
}

/// Called by the certificate resolver with the ClientHello's SNI name.
pub(crate) fn note_sni(name: Option<&str>) {
    let _ = LAST_SNI.try_with(|s| *s.borrow_mut() = name.map(Box::from));
}

fn take_sni() -> Option<Box<str>> {
    LAST_SNI.try_with(|s| s.borrow_mut().take()).ok().flatten()
}

/// A server connection: rustls' unbuffered state machine and three buffers owned here, each
/// empty (and unallocated) while the connection is idle.
pub struct ServerSession {
    conn: UnbufferedServerConnection,
    /// Ciphertext received and not yet consumed by rustls (a partial record, or handshake
    /// records being joined).
    incoming: Vec<u8>,
    /// Ciphertext to send.
    outgoing: Vec<u8>,
    /// Decrypted application data not yet read: `plain[ppos..]`.
    plain: Vec<u8>,
    ppos: usize,
    sni: Option<Box<str>>,
    eof: bool,
    peer_closed: bool,
    error: Option<rustls::Error>,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("incoming", &self.incoming.len())
            .field("outgoing", &self.outgoing.len())
            .field(
                "plain",
                &(self.plain.len() - self.ppos.min(self.plain.len())),
            )
            .field("eof", &self.eof)
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

impl Deref for ServerSession {
    type Target = CommonState;
    fn deref(&self) -> &CommonState {
        &self.conn
    }
}

impl ServerSession {
    /// A server connection with `config`.
    pub fn new(config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Self {
            conn: UnbufferedServerConnection::new(config)?,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            plain: Vec::new(),
            ppos: 0,
            sni: None,
            eof: false,
            peer_closed: false,
            error: None,
        })
    }

    /// The SNI name the client sent.
    pub fn server_name(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    fn plain_waiting(&self) -> bool {
        self.ppos < self.plain.len()
    }

    /// Run rustls over the ciphertext received until it needs more (or the application may
    /// write): handshake records it emits and decrypted application data are moved to this
    /// session's buffers. With `data`, once application data may be sent, encrypt up to
    /// `data.len()` bytes of it (returned: how many).
    fn drive(&mut self, mut data: Option<&[u8]>, close: bool) -> Result<usize, rustls::Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut written = 0;
        let mut close = close;
        loop {
            let need_sni = self.sni.is_none() && self.conn.is_handshaking();
            if need_sni {
                let _ = take_sni();
            }
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            if need_sni {
                self.sni = take_sni();
            }
            let mut discard = discard;
            let mut stop = false;
            let mut failed = None;
            match state {
                Err(e) => failed = Some(e),
                Ok(ConnectionState::ReadTraffic(mut rt)) => {
                    while let Some(rec) = rt.next_record() {
                        match rec {
                            Ok(rec) => {
                                discard += rec.discard;
                                if self.ppos >= self.plain.len() {
                                    self.plain.clear();
                                    self.ppos = 0;
                                }
                                self.plain.extend_from_slice(rec.payload);
                            }
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                }
                Ok(ConnectionState::ReadEarlyData(mut ed)) => {
                    // Early data is never accepted (max_early_data_size 0); drop any.
                    while let Some(rec) = ed.next_record() {
                        match rec {
                            Ok(rec) => discard += rec.discard,
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut enc)) => {
                    if let Err(e) = grow_into(&mut self.outgoing, |buf| {
                        enc.encode(buf).map_err(encode_room)
                    }) {
                        failed = Some(e);
                    }
                }
                // The ciphertext is in `outgoing`, which the stream sends in order.
                Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                Ok(ConnectionState::BlockedHandshake) => stop = true,
                Ok(ConnectionState::PeerClosed) => self.peer_closed = true,
                Ok(ConnectionState::Closed) => {
                    self.peer_closed = true;
                    stop = true;
                }
                Ok(ConnectionState::WriteTraffic(mut wt)) => {
                    if let Some(d) = data.take() {
                        let n = d.len().min(crate::stream::BUFFER_LIMIT);
                        let d = d.get(..n).unwrap_or(d);
                        match grow_into(&mut self.outgoing, |buf| {
                            wt.encrypt(d, buf).map_err(encrypt_room)
                        }) {
                            Ok(()) => written = n,
                            Err(e) => failed = Some(e),
                        }
                    }
                    if close && failed.is_none() {
                        close = false;
                        if let Err(e) = grow_into(&mut self.outgoing, |buf| {
                            wt.queue_close_notify(buf).map_err(encrypt_room)
                        }) {
                            failed = Some(e);
                        }
                    }
                    stop = true;
                }
                Ok(_) => stop = true,
            }
            let discard = discard.min(self.incoming.len());
            self.incoming.drain(..discard);
            if let Some(e) = failed {
                self.error = Some(e.clone());
                // An alert rustls queued for the peer goes out with what is already here.
                self.flush_alert();
                return Err(e);
            }
            if stop {
                return Ok(written);
            }
        }
    }

    /// After an error: encode what rustls queued before and with it (its alert last).
    /// rustls hands out what it has queued before it reads further input, and reading
    /// further could fail again (and queue a second fatal alert), so this stops as soon as
    /// nothing is queued. rustls is given the same buffer as always (what is left of
    /// `incoming`): its handshake deframer keeps positions in it between calls, and a
    /// different buffer makes it index out of bounds.
    fn flush_alert(&mut self) {
        while CommonState::wants_write(&self.conn) {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut self.incoming);
            let Ok(ConnectionState::EncodeTlsData(mut enc)) = state else {
                return;
            };
            let encoded = grow_into(&mut self.outgoing, |buf| {
                enc.encode(buf).map_err(encode_room)
            });
            if encoded.is_err() {
                return;
            }
        }
    }
}

/// Write into the spare end of `out` with `f`, growing it to the size rustls asks for
/// (`Err(Some(n))`: `n` bytes are needed; `Err(None)`: it cannot be written).
fn grow_into(
    out: &mut Vec<u8>,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), rustls::Error> {
    let at = out.len();
    let mut room = 1024;
    for _ in 0..2 {
        out.resize(at + room, 0);
        match f(out.get_mut(at..).unwrap_or(&mut [])) {
            Ok(n) => {
                out.truncate(at + n);
                return Ok(());
            }
            Err(Some(need)) if need > room => room = need,
            Err(_) => break,
        }
    }
    out.truncate(at);
    Err(rustls::Error::General("tls: cannot encode a record".into()))
}

/// How much room an encoding needs, if that is why it failed.
fn encode_room(e: EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// How much room an encryption needs, if that is why it failed.
fn encrypt_room(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

fn to_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Session for ServerSession {
    fn common(&self) -> &CommonState {
        &self.conn
    }

    fn set_limit(&mut self, _limit: usize) {}

    fn read_tls(&mut self, rd: &mut &[u8]) -> io::Result<usize> {
        let room = MAX_INCOMING.saturating_sub(self.incoming.len());
        let n = rd.len().min(room);
        let (take, rest) = rd.split_at(n);
        self.incoming.extend_from_slice(take);
        *rd = rest;
        Ok(n)
    }

    fn read_eof(&mut self) -> io::Result<()> {
        self.eof = true;
        Ok(())
    }

    fn process_new_packets(&mut self) -> Result<Progress, rustls::Error> {
        self.drive(None, false)?;
        Ok(Progress {
            plaintext: self.plain_waiting(),
            peer_closed: self.peer_closed,
        })
    }

    fn read_plain(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.plain_waiting() {
            let src = self.plain.get(self.ppos..).unwrap_or(&[]);
            let n = src.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                d.copy_from_slice(s);
            }
            self.ppos += n;
            return Ok(n);
        }
        if self.peer_closed {
            Ok(0)
        } else if self.eof {
            Err(io::ErrorKind::UnexpectedEof.into())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    fn write_plain(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.drive(Some(data), false).map_err(to_io)
    }

    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.outgoing.len();
        if out.is_empty() {
            std::mem::swap(out, &mut self.outgoing);
        } else {
            out.append(&mut self.outgoing);
        }
        Ok(n)
    }

    fn wants_write(&self) -> bool {
        !self.outgoing.is_empty()
    }

    fn wants_read(&self) -> bool {
        self.error.is_none() && !self.peer_closed
    }

    fn queue_close_notify(&mut self) {
        let _ = self.drive(None, true);
    }

    fn release_idle(&mut self) {
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        if self.outgoing.is_empty() {
            self.outgoing = Vec::new();
        }
        if !self.plain_waiting() {
            self.plain = Vec::new();
            self.ppos = 0;
        }
    }
}

/// Fuzzing entry (not an API): `input` fed to a fresh server session in pieces (the first
/// byte gives their size), as the stream would: take the ciphertext, process it, read the
/// plaintext, answer application data, send, go idle; then EOF and close_notify. It must
/// never panic, and every buffer stays within its bound.
#[doc(hidden)]
pub fn fuzz_server_session(config: &Arc<rustls::ServerConfig>, input: &[u8]) {
    let Ok(mut s) = ServerSession::new(config.clone()) else {
        return;
    };
    let Some((first, rest)) = input.split_first() else {
        return;
    };
    let size = usize::from(*first % 64) + 1;
    let mut plain = [0u8; 512];
    for piece in rest.chunks(size) {
        let mut rd = piece;
        while !rd.is_empty() {
            match Session::read_tls(&mut s, &mut rd) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            match Session::process_new_packets(&mut s) {
                Ok(p) if p.plaintext => {
                    while let Ok(n) = s.read_plain(&mut plain) {
                        if n == 0 {
                            break;
                        }
                    }
                    let _ = Session::write_plain(&mut s, b"HTTP/1.1 200 OK\r\n\r\n");
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = Session::write_plain(&mut s, b"x");
                    let mut out = Vec::new();
                    let _ = Session::write_tls(&mut s, &mut out);
                    return;
                }
            }
        }
        let mut out = Vec::new();
        let _ = Session::write_tls(&mut s, &mut out);
        s.release_idle();
    }
    let _ = s.read_eof();
    let _ = Session::process_new_packets(&mut s);
    let _ = s.read_plain(&mut plain);
    s.queue_close_notify();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    fn configs() -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = crate::provider();
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der)
            .unwrap();
        server.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        (Arc::new(server), roots)
    }

    /// Client to server one byte at a time (every record arrives in pieces), server to
    /// client at once; then whatever the server has to say goes back. The plaintext the
    /// client received.
    fn pump(c: &mut ClientConnection, s: &mut ServerSession) -> Vec<u8> {
        let mut got = Vec::new();
        for _ in 0..8 {
            let mut bytes = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut bytes).unwrap();
            }
            for b in bytes.chunks(1) {
                let mut rd = b;
                assert_eq!(Session::read_tls(s, &mut rd).unwrap(), 1);
                Session::process_new_packets(s).unwrap();
            }
            let mut out = Vec::new();
            Session::write_tls(s, &mut out).unwrap();
            let mut rd = &out[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd).unwrap();
                c.process_new_packets().unwrap();
                let _ = c.reader().read_to_end(&mut got);
            }
        }
        got
    }

    fn read_all(s: &mut ServerSession) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1000];
        while let Ok(n) = s.read_plain(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[test]
    fn a_session_handshakes_exchanges_data_updates_keys_and_closes() {
        let (sc, roots) = configs();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let cc = Arc::new(
                rustls::ClientConfig::builder_with_provider(crate::provider())
                    .with_protocol_versions(&[version])
                    .unwrap()
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth(),
            );
            let mut s = ServerSession::new(sc.clone()).unwrap();
            let mut c = ClientConnection::new(cc, "localhost".try_into().unwrap()).unwrap();
            pump(&mut c, &mut s);
            assert!(!s.is_handshaking() && !c.is_handshaking());
            assert_eq!(
                s.server_name(),
                None,
                "the test's resolver is not SniResolver"
            );
            assert!(matches!(
                s.read_plain(&mut [0u8; 4]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ));

            // Client to server, in pieces.
            c.writer().write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            pump(&mut c, &mut s);
            assert_eq!(read_all(&mut s), b"GET / HTTP/1.1\r\n\r\n");

            // Server to client: more than one record (and more than the write limit).
            let big = vec![b'x'; 100_000];
            let mut sent = 0;
            while sent < big.len() {
                sent += Session::write_plain(&mut s, &big[sent..]).unwrap();
            }
            let got = pump(&mut c, &mut s);
            assert_eq!(got.len(), big.len());

            // A key update from the client (TLS 1.3): both ways still work.
            if version == &rustls::version::TLS13 {
                c.refresh_traffic_keys().unwrap();
                c.writer().write_all(b"after update").unwrap();
                pump(&mut c, &mut s);
                assert_eq!(read_all(&mut s), b"after update");
                Session::write_plain(&mut s, b"reply").unwrap();
                assert_eq!(pump(&mut c, &mut s), b"reply");
            }

            // Idle: nothing buffered, nothing held.
            s.release_idle();
            assert_eq!(
                s.incoming.capacity() + s.outgoing.capacity() + s.plain.capacity(),
                0
            );

            // close_notify from the client: a clean end of input, and ours goes back.
            c.send_close_notify();
            pump(&mut c, &mut s);
            assert_eq!(s.read_plain(&mut [0u8; 4]).unwrap(), 0);
            s.queue_close_notify();
            assert!(Session::wants_write(&s));
            assert!(pump(&mut c, &mut s).is_empty());
            assert_eq!(
                c.reader().read(&mut [0u8; 4]).unwrap(),
                0,
                "close_notify seen"
            );
        }
    }

    /// A handshake that fails after rustls queued more than one record (here: no ALPN
    /// protocol in common) sends all of it, the alert last, and nothing after it.
    #[test]
    fn a_failed_handshake_sends_its_alert() {
        let (sc, roots) = configs();
        let mut sc = (*sc).clone();
        sc.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut cc = rustls::ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cc.alpn_protocols = vec![b"h2".to_vec()];
        let mut c = ClientConnection::new(Arc::new(cc), "localhost".try_into().unwrap()).unwrap();
        let mut s = ServerSession::new(Arc::new(sc)).unwrap();
        let mut hello = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut hello).unwrap();
        }
        let mut rd = &hello[..];
        Session::read_tls(&mut s, &mut rd).unwrap();
        let err = Session::process_new_packets(&mut s).unwrap_err();
        assert_eq!(err, rustls::Error::NoApplicationProtocol);
        let mut out = Vec::new();
        Session::write_tls(&mut s, &mut out).unwrap();
        let mut rd = &out[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
        }
        let got = c.process_new_packets().unwrap_err();
        assert!(
            matches!(
                got,
                rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
            ),
            "{got:?}"
        );
        assert!(!CommonState::wants_write(&s.conn));
    }

    #[test]
    fn garbage_and_truncation_are_errors_or_waits_never_panics() {
        let (sc, _) = configs();
        let inputs: [&[u8]; 5] = [
            &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8],
            &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01],
            &[0x17, 0x03, 0x03, 0x00, 0x01, 0x00],
            &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
            &[0xff; 64],
        ];
        for input in inputs {
            for chunk in [1, 3, input.len()] {
                let mut s = ServerSession::new(sc.clone()).unwrap();
                let mut failed = false;
                for piece in input.chunks(chunk) {
                    let mut rd = piece;
                    Session::read_tls(&mut s, &mut rd).unwrap();
                    if Session::process_new_packets(&mut s).is_err() {
                        failed = true;
                        break;
                    }
                }
                // Once failed, it stays failed; writes fail too.
                if failed {
                    assert!(Session::process_new_packets(&mut s).is_err());
                    assert!(Session::write_plain(&mut s, b"x").is_err());
                    assert!(!Session::wants_read(&s));
                } else {
                    s.read_eof().unwrap();
                    let _ = Session::process_new_packets(&mut s);
                    assert!(s.read_plain(&mut [0u8; 4]).is_err());
                }
                let mut out = Vec::new();
                Session::write_tls(&mut s, &mut out).unwrap();
            }
        }
    }

    #[test]
    fn a_client_that_stops_reading_cannot_grow_the_input_past_its_bound() {
        let (sc, _) = configs();
        let mut s = ServerSession::new(sc).unwrap();
        // A handshake record header announcing 16 KiB, then never more than that: the
        // session takes at most its bound and says when it is full.
        let junk = vec![0x16u8; MAX_INCOMING + 10];
        let mut rd = &junk[..];
        let n = Session::read_tls(&mut s, &mut rd).unwrap();
        assert_eq!(n, MAX_INCOMING);
        assert_eq!(Session::read_tls(&mut s, &mut rd).unwrap(), 0);
    }
}
