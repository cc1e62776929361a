//! A client certificate as API Gateway shows it to REQUEST authorizers
//! (`requestContext.identity.clientCert`).

use base64::Engine as _;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// The fields of `clientCert`, in API Gateway's formats:
/// - `client_cert_pem`: the leaf certificate, PEM, 64-column base64, ending in a newline;
/// - `subject_dn` / `issuer_dn`: attributes in the certificate's own order, `,` between RDNs
///   and `+` inside a multi-valued one, no spaces, OpenSSL short names (`C`, `ST`, `L`, `O`,
///   `OU`, `CN`, `emailAddress`, ...; dotted OIDs otherwise), RFC 4514 escaping of values:
///   `C=US,ST=Washington,L=Seattle,O=Amazon Web Services,OU=Security,CN=My Client`;
/// - `serial_number`: the serial in decimal (`1`);
/// - `not_before` / `not_after`: `Aug  5 00:28:21 2120 GMT` (month, space-padded day, UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertInfo {
    pub client_cert_pem: String,
    pub subject_dn: String,
    pub issuer_dn: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
}

/// The peer's certificate could not be parsed (it was verified by rustls first, so this is rare:
/// an extension webpki tolerates but the parser does not).
#[derive(Debug, thiserror::Error)]
#[error("client certificate not parseable: {0}")]
pub struct CertInfoError(String);

impl ClientCertInfo {
    /// From a DER certificate (the first of the peer's chain).
    pub fn from_der(der: &[u8]) -> Result<Self, CertInfoError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertInfoError(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        Ok(Self {
            client_cert_pem: to_pem(der),
            subject_dn: format_dn(&tbs.subject),
            issuer_dn: format_dn(&tbs.issuer),
            serial_number: tbs.serial.to_string(),
            not_before: format_time(tbs.validity.not_before.timestamp()),
            not_after: format_time(tbs.validity.not_after.timestamp()),
        })
    }
}

fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

fn format_dn(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            match short_name(&oid) {
                Some(s) => out.push_str(s),
                None => out.push_str(&oid),
            }
            out.push('=');
            match value_text(atv) {
                Some(text) => escape_into(&mut out, &text),
                None => {
                    // RFC 4514: a value without a string form is `#` and its hex.
                    out.push('#');
                    for b in atv.attr_value().as_bytes() {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    out
}

fn value_text(atv: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Option<String> {
    if let Ok(s) = atv.as_str() {
        return Some(s.to_owned());
    }
    use x509_parser::der_parser::asn1_rs::Tag;
    let any = atv.attr_value();
    let data = any.as_bytes();
    match any.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| {
                    u16::from_be_bytes([
                        c.first().copied().unwrap_or(0),
                        c.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            let mut s = String::new();
            for c in data.chunks_exact(4) {
                let mut b = [0u8; 4];
                b.copy_from_slice(c);
                s.push(char::from_u32(u32::from_be_bytes(b))?);
            }
            Some(s)
        }
        // TeletexString: in practice Latin-1.
        Tag::T61String | Tag::VisibleString => Some(data.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

/// RFC 4514 section 2.4 escaping.
fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Aug  5 00:28:21 2120 GMT` from Unix seconds (OpenSSL's `ASN1_TIME_print` layout).
fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let month = MONTHS
        .get(usize::try_from(m.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{month} {d:>2} {:02}:{:02}:{:02} {y} GMT",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil: proleptic Gregorian (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_use_openssl_layout_with_space_padded_day() {
        // 2120-08-05T00:28:21Z and 2020-08-29T00:28:21Z (API Gateway's documented sample).
        assert_eq!(format_time(4_752_260_901), "Aug  5 00:28:21 2120 GMT");
        assert_eq!(format_time(1_598_660_901), "Aug 29 00:28:21 2020 GMT");
        assert_eq!(format_time(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(format_time(951_782_400), "Feb 29 00:00:00 2000 GMT");
    }

    #[test]
    fn dn_values_are_escaped_as_rfc4514_says() {
        let mut s = String::new();
        escape_into(&mut s, " a,b+c\"d\\e<f>g;h #");
        assert_eq!(s, "\\ a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h #");
        let mut s = String::new();
        escape_into(&mut s, "#x ");
        assert_eq!(s, "\\#x\\ ");
    }

    #[test]
    fn pem_lines_are_64_columns() {
        let pem = to_pem(&[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.get(1).map(|l| l.len()), Some(64));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(pem.ends_with('\n'));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(ClientCertInfo::from_der(b"not a certificate").is_err());
        assert!(ClientCertInfo::from_der(&[]).is_err());
    }
}
