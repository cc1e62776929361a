//! The PROXY protocol (HAProxy's v1 text and v2 binary headers) that a load balancer puts in
//! front of each connection on a listener with `proxy_protocol: true`. The source address (and
//! AWS's VPC endpoint TLV, type 0xEA subtype 0x01, which sets `aws:SourceVpce`) come from it.
//! Pure: bytes in, header out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// Largest v1 header (spec: 107 bytes).
const V1_MAX: usize = 107;
/// Largest v2 header accepted (16-byte preamble + addresses + TLVs).
pub const V2_MAX: usize = 16 + 2048;
/// AWS's TLV type and the subtype carrying the VPC endpoint id.
const PP2_TYPE_AWS: u8 = 0xEA;
const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;

/// What a PROXY header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The original client (None for `UNKNOWN` / `LOCAL` / unspecified families).
    pub source: Option<SocketAddr>,
    /// The original destination.
    pub destination: Option<SocketAddr>,
    /// AWS VPC endpoint id (`vpce-...`) from the 0xEA TLV.
    pub vpce_id: Option<String>,
    /// Bytes of the header; the HTTP request starts after them.
    pub consumed: usize,
}

/// Why a PROXY header was refused (the connection is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("connection does not start with a PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
}

/// Parse a PROXY header at the start of `buf`. `Ok(None)`: need more bytes.
pub fn parse(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let sig_len = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..sig_len) == V2_SIGNATURE.get(..sig_len) {
        if buf.len() < V2_SIGNATURE.len() {
            return Ok(None);
        }
        return parse_v2(buf);
    }
    let v1 = b"PROXY ";
    let n = buf.len().min(v1.len());
    if buf.get(..n) == v1.get(..n) {
        if buf.len() < v1.len() {
            return Ok(None);
        }
        return parse_v1(buf);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let window = buf.get(..buf.len().min(V1_MAX)).unwrap_or(buf);
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::Malformed("v1 header too long"));
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(window.get(..end).unwrap_or_default())
        .map_err(|_| ProxyError::Malformed("v1 header is not ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    let consumed = end + 2;
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Some(ProxyHeader {
            source: None,
            destination: None,
            vpce_id: None,
            consumed,
        })),
        ["PROXY", fam, src, dst, sport, dport] => {
            let (src, dst): (IpAddr, IpAddr) = match *fam {
                "TCP4" => (
                    src.parse::<Ipv4Addr>()
                        .map_err(|_| ProxyError::Malformed("v1 source address"))?
                        .into(),
                    dst.parse::<Ipv4Addr>()
                        .map_err(|_| ProxyError::Malformed("v1 destination address"))?
                        .into(),
                ),
                "TCP6" => (
                    src.parse::<Ipv6Addr>()
                        .map_err(|_| ProxyError::Malformed("v1 source address"))?
                        .into(),
                    dst.parse::<Ipv6Addr>()
                        .map_err(|_| ProxyError::Malformed("v1 destination address"))?
                        .into(),
                ),
                _ => return Err(ProxyError::Malformed("v1 protocol family")),
            };
            let port = |p: &str| -> Result<u16, ProxyError> {
                if p.is_empty()
                    || p.len() > 5
                    || !p.bytes().all(|b| b.is_ascii_digit())
                    || (p.len() > 1 && p.starts_with('0'))
                {
                    return Err(ProxyError::Malformed("v1 port"));
                }
                p.parse().map_err(|_| ProxyError::Malformed("v1 port"))
            };
            Ok(Some(ProxyHeader {
                source: Some(SocketAddr::new(src, port(sport)?)),
                destination: Some(SocketAddr::new(dst, port(dport)?)),
                vpce_id: None,
                consumed,
            }))
        }
        _ => Err(ProxyError::Malformed("v1 header fields")),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn parse_v2(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let ver_cmd = *buf.get(12).ok_or(ProxyError::Malformed("v2 short"))?;
    let fam = *buf.get(13).ok_or(ProxyError::Malformed("v2 short"))?;
    let len = usize::from(be16(buf, 14).ok_or(ProxyError::Malformed("v2 short"))?);
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version"));
    }
    let command = ver_cmd & 0x0f;
    if command > 1 {
        return Err(ProxyError::Malformed("v2 command"));
    }
    let total = 16 + len;
    if total > V2_MAX {
        return Err(ProxyError::Malformed("v2 header too long"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let body = buf
        .get(16..total)
        .ok_or(ProxyError::Malformed("v2 short"))?;
    let (addr_len, source, destination) = match fam {
        0x11 | 0x12 => {
            let a = body
                .get(..12)
                .ok_or(ProxyError::Malformed("v2 IPv4 addresses"))?;
            let ip = |o: usize| -> Option<IpAddr> {
                Some(IpAddr::V4(Ipv4Addr::new(
                    *a.get(o)?,
                    *a.get(o + 1)?,
                    *a.get(o + 2)?,
                    *a.get(o + 3)?,
                )))
            };
            let src = SocketAddr::new(
                ip(0).ok_or(ProxyError::Malformed("v2 src"))?,
                be16(a, 8).unwrap_or(0),
            );
            let dst = SocketAddr::new(
                ip(4).ok_or(ProxyError::Malformed("v2 dst"))?,
                be16(a, 10).unwrap_or(0),
            );
            (12, Some(src), Some(dst))
        }
        0x21 | 0x22 => {
            let a = body
                .get(..36)
                .ok_or(ProxyError::Malformed("v2 IPv6 addresses"))?;
            let ip = |o: usize| -> Option<IpAddr> {
                let mut b = [0u8; 16];
                b.copy_from_slice(a.get(o..o + 16)?);
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            };
            let src = SocketAddr::new(
                ip(0).ok_or(ProxyError::Malformed("v2 src"))?,
                be16(a, 32).unwrap_or(0),
            );
            let dst = SocketAddr::new(
                ip(16).ok_or(ProxyError::Malformed("v2 dst"))?,
                be16(a, 34).unwrap_or(0),
            );
            (36, Some(src), Some(dst))
        }
        0x00 => (0, None, None),
        0x31 | 0x32 => (216, None, None),
        _ => return Err(ProxyError::Malformed("v2 address family")),
    };
    let mut tlvs = body
        .get(addr_len..)
        .ok_or(ProxyError::Malformed("v2 addresses longer than header"))?;
    let mut vpce_id = None;
    while !tlvs.is_empty() {
        let t = *tlvs.first().ok_or(ProxyError::Malformed("v2 TLV"))?;
        let l = usize::from(be16(tlvs, 1).ok_or(ProxyError::Malformed("v2 TLV length"))?);
        let v = tlvs
            .get(3..3 + l)
            .ok_or(ProxyError::Malformed("v2 TLV overruns header"))?;
        if t == PP2_TYPE_AWS && v.first() == Some(&PP2_SUBTYPE_AWS_VPCE_ID) {
            let id = std::str::from_utf8(v.get(1..).unwrap_or_default())
                .map_err(|_| ProxyError::Malformed("v2 AWS VPC endpoint id"))?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(ProxyError::Malformed("v2 AWS VPC endpoint id"));
            }
            vpce_id = Some(id.to_owned());
        }
        tlvs = tlvs.get(3 + l..).unwrap_or_default();
    }
    // LOCAL: health checks from the proxy itself; the socket peer stays the source.
    let (source, destination) = if command == 0 {
        (None, None)
    } else {
        (source, destination)
    };
    Ok(Some(ProxyHeader {
        source,
        destination,
        vpce_id,
        consumed: total,
    }))
}

/// Build a v2 header (tests and the load generator use it).
pub fn encode_v2(src: SocketAddr, dst: SocketAddr, vpce_id: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    let fam = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x11
        }
        (s, d) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            body.extend_from_slice(&v6(s).octets());
            body.extend_from_slice(&v6(d).octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x21
        }
    };
    if let Some(id) = vpce_id {
        body.push(PP2_TYPE_AWS);
        body.extend_from_slice(&((id.len() + 1) as u16).to_be_bytes());
        body.push(PP2_SUBTYPE_AWS_VPCE_ID);
        body.extend_from_slice(id.as_bytes());
    }
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    out.push(fam);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tcp4_and_unknown() {
        let h = parse(b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.source, Some("203.0.113.7:51234".parse().unwrap()));
        assert_eq!(h.consumed, 43);
        let h = parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap();
        assert_eq!(h.source, None);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4").unwrap(), None);
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n").is_err());
        assert!(parse(b"PROXY TCP4 1.2.3 5.6.7.8 1 1\r\n").is_err());
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::Missing));
    }

    #[test]
    fn v2_with_aws_tlv_round_trips() {
        let src: SocketAddr = "198.51.100.9:40000".parse().unwrap();
        let dst: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        let mut b = encode_v2(src, dst, Some("vpce-0123456789abcdef0"));
        let n = b.len();
        b.extend_from_slice(b"GET /");
        let h = parse(&b).unwrap().unwrap();
        assert_eq!(h.source, Some(src));
        assert_eq!(h.destination, Some(dst));
        assert_eq!(h.vpce_id.as_deref(), Some("vpce-0123456789abcdef0"));
        assert_eq!(h.consumed, n);
        // Every truncation is "need more", never an error or a panic.
        for i in 0..n {
            assert_eq!(parse(&b[..i]).unwrap(), None, "prefix {i}");
        }
        let v6 = encode_v2(
            "[2001:db8::1]:1".parse().unwrap(),
            "[2001:db8::2]:2".parse().unwrap(),
            None,
        );
        assert_eq!(
            parse(&v6).unwrap().unwrap().source,
            Some("[2001:db8::1]:1".parse().unwrap())
        );
    }

    #[test]
    fn v2_rejects_bad_tlvs_and_versions() {
        let src: SocketAddr = "1.1.1.1:1".parse().unwrap();
        let mut b = encode_v2(src, src, Some("vpce-1"));
        // Claim a longer TLV than the header holds.
        let tlv_len_at = 16 + 12 + 1;
        b[tlv_len_at + 1] = 0xff;
        assert!(parse(&b).is_err());
        let mut b = encode_v2(src, src, None);
        b[12] = 0x31;
        assert!(parse(&b).is_err());
    }
}
