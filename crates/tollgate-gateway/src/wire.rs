//! Small writers for response heads.

pub(crate) fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_usize(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(tollgate_http::reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn header_usize(out: &mut Vec<u8>, name: &[u8], value: usize) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    push_usize(out, value);
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn push_usize(out: &mut Vec<u8>, mut v: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or(&[]));
}

/// `host:port` -> `host` (IPv6 literals keep their brackets).
pub(crate) fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return match host.iter().position(|&b| b == b']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => host.get(..i).unwrap_or(host),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        for n in [0usize, 7, 10, 12345, usize::MAX] {
            let mut v = Vec::new();
            super::push_usize(&mut v, n);
            assert_eq!(String::from_utf8(v).unwrap(), n.to_string());
        }
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(super::strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(super::strip_port(b"example.com"), b"example.com");
        assert_eq!(super::strip_port(b"[::1]:80"), b"[::1]");
    }
}
