//! Small syntax checks shared by the loader: ARNs, names, URLs, RFC 3339, identity sources.

use crate::compiled::IdentitySource;

pub(crate) fn is_12_digits(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_partition(p: &str) -> bool {
    matches!(p, "aws" | "aws-cn" | "aws-us-gov")
}

/// `arn:aws:iam::<12 digits>:(root|user/...|role/...)` or `arn:aws:sts::<12>:assumed-role/R/S`.
pub(crate) fn check_identity_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad = || {
        Err(format!(
            "invalid IAM principal ARN \"{arn}\" (expected arn:aws:iam::<12-digit account>:user/NAME, :role/NAME, :root, arn:aws:sts::<account>:assumed-role/ROLE/SESSION or :federated-user/NAME)"
        ))
    };
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return bad();
    };
    if *prefix != "arn"
        || !valid_partition(partition)
        || !region.is_empty()
        || !is_12_digits(account)
    {
        return bad();
    }
    let ok = match *service {
        "iam" => {
            *resource == "root"
                || resource
                    .strip_prefix("user/")
                    .or_else(|| resource.strip_prefix("role/"))
                    .is_some_and(|n| !n.is_empty() && !n.ends_with('/'))
        }
        "sts" => {
            resource
                .strip_prefix("assumed-role/")
                .is_some_and(|r| r.split('/').count() == 2 && r.split('/').all(|p| !p.is_empty()))
                || resource
                    .strip_prefix("federated-user/")
                    .is_some_and(|n| !n.is_empty() && !n.contains('/'))
        }
        _ => false,
    };
    if ok { Ok(()) } else { bad() }
}

/// `arn:aws:cognito-idp:<region>:<12>:userpool/<region>_<id>` -> (region, pool id).
pub(crate) fn check_cognito_arn(arn: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad = || {
        Err(format!(
            "invalid Cognito user pool ARN \"{arn}\" (expected arn:aws:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID)"
        ))
    };
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return bad();
    };
    if *prefix != "arn"
        || !valid_partition(partition)
        || *service != "cognito-idp"
        || !valid_region(region)
        || !is_12_digits(account)
    {
        return bad();
    }
    let Some(pool) = resource.strip_prefix("userpool/") else {
        return bad();
    };
    let Some((pregion, id)) = pool.split_once('_') else {
        return bad();
    };
    if !valid_region(pregion) || id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad();
    }
    Ok(((*region).to_owned(), pool.to_owned()))
}

/// `us-east-1`-like: lowercase letters, digits and '-', starting with a letter.
pub(crate) fn valid_region(r: &str) -> bool {
    r.len() >= 3
        && r.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && r.contains('-')
}

/// `[A-Za-z0-9_-]{1,max}`.
pub(crate) fn valid_ident(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An HTTP header name (RFC 9110 token).
pub(crate) fn valid_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value may not hold CR, LF or NUL.
pub(crate) fn valid_header_value(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Check an `http://host:port/...` URL (literal, no variables).
pub(crate) fn check_http_url(url: &str) -> Result<(), String> {
    // https:// is verified against gateway.upstream.ca_file or the system's roots.
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(format!(
            "expected an http:// or https:// URL, found \"{}\"",
            without_userinfo(url)
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    check_authority(authority).map_err(|m| format!("{m} in \"{}\"", without_userinfo(url)))
}

/// A URL for an error message: whatever stands between `://` and the last `@` (user info,
/// perhaps a password) is left out. Messages go to logs, `PUT /config` answers and `push`.
fn without_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(b)) if b > a => format!(
            "{}…@{}",
            url.get(..a + 3).unwrap_or(""),
            url.get(b + 1..).unwrap_or("")
        ),
        _ => url.to_owned(),
    }
}

/// `host[:port]` with a non-empty host and a numeric port.
pub(crate) fn check_authority(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("missing host".to_owned());
    }
    if a.contains('@') {
        return Err("user info is not allowed".to_owned());
    }
    if a.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("whitespace in host".to_owned());
    }
    let (host, port) = if let Some(r) = a.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err("unterminated IPv6 literal".to_owned()),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    if host.is_empty() {
        return Err("missing host".to_owned());
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        return Err(format!("invalid port \"{p}\""));
    }
    Ok(())
}

/// TOKEN / COGNITO: exactly one `method.request.header.X`.
pub(crate) fn parse_single_header_source(s: &str) -> Result<IdentitySource, String> {
    match parse_source(s.trim()) {
        Ok(IdentitySource::Header(h)) if !s.contains(',') => Ok(IdentitySource::Header(h)),
        _ => Err(format!(
            "expected exactly one method.request.header.NAME, found \"{s}\""
        )),
    }
}

/// REQUEST: comma list of header / querystring / stageVariables / context sources.
pub(crate) fn parse_source_list(s: &str) -> Result<Vec<IdentitySource>, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let src = parse_source(item.trim())?;
        if !out.contains(&src) {
            out.push(src);
        }
    }
    Ok(out)
}

/// The `context.*` identity sources a Lambda REQUEST authorizer can be keyed on.
pub const CONTEXT_SOURCES: &[&str] = &[
    "identity.sourceIp",
    "identity.userAgent",
    "identity.clientCert.clientCertPem",
    "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN",
    "identity.clientCert.serialNumber",
    "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter",
    "httpMethod",
    "path",
    "resourcePath",
    "stage",
    "apiId",
    "requestId",
    "domainName",
];

fn parse_source(s: &str) -> Result<IdentitySource, String> {
    let err = || {
        format!(
            "invalid identity source \"{s}\" (expected method.request.header.NAME, method.request.querystring.NAME, \
             stageVariables.NAME or context.NAME)"
        )
    };
    if let Some(h) = s.strip_prefix("method.request.header.") {
        if valid_header_name(h) {
            return Ok(IdentitySource::Header(h.to_ascii_lowercase()));
        }
    } else if let Some(q) = s.strip_prefix("method.request.querystring.") {
        if !q.is_empty() && !q.contains(['&', '=', '#', ' ']) {
            return Ok(IdentitySource::QueryString(q.to_owned()));
        }
    } else if let Some(v) = s.strip_prefix("stageVariables.") {
        if valid_ident(v, 128) {
            return Ok(IdentitySource::StageVariable(v.to_owned()));
        }
    } else if let Some(c) = s.strip_prefix("context.") {
        // Only the names tollgate gives a value: any other would be missing on every
        // request (401 for all) though the configuration looked valid.
        if CONTEXT_SOURCES.contains(&c) {
            return Ok(IdentitySource::Context(c.to_owned()));
        }
        return Err(format!(
            "unsupported identity source \"{s}\" (context sources: {})",
            CONTEXT_SOURCES
                .iter()
                .map(|n| format!("context.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Err(err())
}

/// RFC 3339 date-time -> Unix seconds (fractions dropped).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    tollgate_time::parse_rfc3339(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.5+01:00"),
            Some(1_709_204_400)
        );
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00-00:30"),
            Some(951_870_600)
        );
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn arns() {
        assert!(check_identity_arn("arn:aws:iam::123456789012:user/alice").is_ok());
        assert!(check_identity_arn("arn:aws:iam::123456789012:role/path/r").is_ok());
        assert!(check_identity_arn("arn:aws:iam::123456789012:root").is_ok());
        assert!(check_identity_arn("arn:aws:sts::123456789012:assumed-role/R/s").is_ok());
        for bad in [
            "arn:aws:iam::12345678901:user/a",
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:iam:us-east-1:123456789012:user/a",
            "arn:aws:iam::123456789012:user/",
            "alice",
        ] {
            assert!(check_identity_arn(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_cognito_arn(
                "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
            ),
            Ok(("us-east-1".to_owned(), "us-east-1_Example".to_owned()))
        );
        assert!(
            check_cognito_arn("arn:aws:cognito-idp:us-east-1:123456789012:userpool/Example")
                .is_err()
        );
        assert!(check_cognito_arn("arn:aws:iam::123456789012:userpool/us-east-1_X").is_err());
    }

    #[test]
    fn urls_and_sources() {
        assert!(check_http_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_http_url("http://[::1]:80").is_ok());
        assert!(check_http_url("https://a/").is_ok());
        assert!(check_http_url("https://a:8443/x").is_ok());
        assert!(check_http_url("ftp://a/").is_err());
        assert!(check_http_url("http:///x").is_err());
        assert!(check_http_url("http://a:99999/").is_err());
        assert_eq!(
            parse_single_header_source("method.request.header.Authorization"),
            Ok(IdentitySource::Header("authorization".into()))
        );
        assert!(parse_single_header_source("method.request.querystring.a").is_err());
        assert!(
            parse_single_header_source("method.request.header.A, method.request.header.B").is_err()
        );
        assert_eq!(
            parse_source_list(
                "method.request.header.X-Tenant, method.request.querystring.key, stageVariables.s, context.identity.sourceIp"
            ),
            Ok(vec![
                IdentitySource::Header("x-tenant".into()),
                IdentitySource::QueryString("key".into()),
                IdentitySource::StageVariable("s".into()),
                IdentitySource::Context("identity.sourceIp".into()),
            ])
        );
        assert!(parse_source_list("method.request.header.A,,").is_err());
        assert!(parse_source_list("header.A").is_err());
    }
}
