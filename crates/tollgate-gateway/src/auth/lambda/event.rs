//! The events a Lambda authorizer receives (TOKEN and REQUEST), field for field as API Gateway
//! (REST) sends them, and the identity-source values that gate and key them.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tollgate_config::IdentitySource;

use crate::auth::AuthRequest;

/// `{"type":"TOKEN","authorizationToken":…,"methodArn":…}`.
pub(crate) fn token_event(token: &str, method_arn: &str) -> Vec<u8> {
    let v = json!({ "type": "TOKEN", "authorizationToken": token, "methodArn": method_arn });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Percent-decode (`%XX`; `+` stays as sent, like API Gateway REST).
pub(crate) fn decode(s: &[u8]) -> String {
    percent_encoding::percent_decode(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The query string as decoded `(name, value)` pairs, in order.
pub(crate) fn query_pairs(req: &AuthRequest<'_>) -> Vec<(String, String)> {
    let Some(q) = req.head.query.map(|s| s.slice(req.buf)) else {
        return Vec::new();
    };
    q.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (
                decode(p.get(..i).unwrap_or_default()),
                decode(p.get(i + 1..).unwrap_or_default()),
            ),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The request's host without port.
fn host(req: &AuthRequest<'_>) -> String {
    let h = req.head.host.map(|s| s.slice(req.buf)).unwrap_or_default();
    String::from_utf8_lossy(crate::wire::strip_port(h)).into_owned()
}

/// A 6-character stand-in for API Gateway's resource id, stable per API and route template.
fn resource_id(api_id: &str, template: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in api_id.bytes().chain([0]).chain(template.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|i| {
            let idx = ((h >> (i * 8)) % ALPHA.len() as u64) as usize;
            ALPHA.get(idx).map_or('a', |&c| c as char)
        })
        .collect()
}

/// `$context.requestTime`: `dd/Mon/yyyy:HH:mm:ss +0000`.
pub(crate) fn clf_time(epoch_secs: i64) -> String {
    let t = tollgate_time::DateTime::from_unix(epoch_secs);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day,
        t.month_abbr(),
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// The REQUEST event.
pub(crate) fn request_event(
    req: &AuthRequest<'_>,
    account_id: &str,
    stage: &str,
    method: &str,
) -> Vec<u8> {
    let buf = req.buf;
    // Headers: client casing; duplicates grouped case-insensitively under the first casing,
    // `headers` keeps the last value, `multiValueHeaders` all of them.
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for h in &req.head.headers {
        let name = String::from_utf8_lossy(h.name.slice(buf));
        let value = String::from_utf8_lossy(h.value.slice(buf)).into_owned();
        match names
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some((_, vals)) => vals.push(value),
            None => names.push((name.into_owned(), vec![value])),
        }
    }
    let mut headers = Map::new();
    let mut mv_headers = Map::new();
    for (n, vals) in names {
        if let Some(last) = vals.last() {
            headers.insert(n.clone(), Value::String(last.clone()));
        }
        mv_headers.insert(
            n,
            Value::Array(vals.into_iter().map(Value::String).collect()),
        );
    }
    let mut query = Map::new();
    let mut mv_query = Map::new();
    for (k, v) in query_pairs(req) {
        query.insert(k.clone(), Value::String(v.clone()));
        match mv_query.get_mut(&k) {
            Some(Value::Array(a)) => a.push(Value::String(v)),
            _ => {
                mv_query.insert(k, Value::Array(vec![Value::String(v)]));
            }
        }
    }
    let path_params: Map<String, Value> = req
        .route
        .params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(decode(v.as_bytes()))))
        .collect();
    let stage_vars: Map<String, Value> = req
        .stage_vars
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let full_path = String::from_utf8_lossy(req.head.path.slice(buf)).into_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let domain = host(req);
    let prefix = domain.split('.').next().unwrap_or_default().to_owned();
    let mut identity = json!({
        "cognitoIdentityPoolId": null,
        "accountId": null,
        "cognitoIdentityId": null,
        "caller": null,
        "sourceIp": req.source_ip.to_string(),
        "principalOrgId": null,
        "accessKey": null,
        "cognitoAuthenticationType": null,
        "cognitoAuthenticationProvider": null,
        "userArn": null,
        "userAgent": req.user_agent,
        "user": null,
    });
    // As AWS: present only when the client presented a certificate (mutual TLS).
    if let (Some(c), Some(obj)) = (req.client_cert, identity.as_object_mut()) {
        obj.insert(
            "clientCert".to_owned(),
            json!({
                "clientCertPem": c.client_cert_pem,
                "subjectDN": c.subject_dn,
                "issuerDN": c.issuer_dn,
                "serialNumber": c.serial_number,
                "validity": { "notBefore": c.not_before, "notAfter": c.not_after },
            }),
        );
    }
    let v = json!({
        "type": "REQUEST",
        "methodArn": req.method_arn,
        "resource": req.route.template,
        "path": req.route.resource_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": mv_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": mv_query,
        "pathParameters": path_params,
        "stageVariables": stage_vars,
        "requestContext": {
            "path": full_path,
            "accountId": account_id,
            "resourceId": resource_id(req.api_id, req.route.template),
            "stage": stage,
            "domainPrefix": prefix,
            "requestId": req.request_id,
            "extendedRequestId": req.request_id,
            "protocol": "HTTP/1.1",
            "identity": identity,
            "domainName": domain,
            "resourcePath": req.route.template,
            "httpMethod": method,
            "requestTime": clf_time(now.as_secs() as i64),
            "requestTimeEpoch": now.as_millis() as u64,
            "apiId": req.api_id,
        },
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Why an identity source gives no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoValue {
    /// Missing or empty: 401, no call.
    Missing,
    /// A header or query-string source given more than once: 400, no call. The cache key and
    /// the event must be made of the same value, and an event carries every value
    /// (`multiValueHeaders`, `multiValueQueryStringParameters`), so no single one is picked.
    Repeated,
    /// Not UTF-8 (a query value: once percent-decoded): 401, no call. The event's JSON holds
    /// text, so such a value would reach the function (and the cache key) altered, and values
    /// the function never saw would share its answer.
    NotUtf8,
}

/// The value of one identity source.
pub(crate) fn source_value<'a>(
    src: &IdentitySource,
    req: &'a AuthRequest<'_>,
    query: &mut Option<Vec<(String, String)>>,
    stage: &str,
    method: &str,
) -> Result<Cow<'a, str>, NoValue> {
    let v: Cow<'a, str> = match src {
        IdentitySource::Header(name) => {
            let raw = req
                .single_header(name.as_bytes())
                .map_err(|_| NoValue::Repeated)?
                .ok_or(NoValue::Missing)?;
            Cow::Borrowed(std::str::from_utf8(raw).map_err(|_| NoValue::NotUtf8)?)
        }
        IdentitySource::QueryString(name) => {
            let pairs = query.get_or_insert_with(|| query_pairs(req));
            let mut found = pairs.iter().filter(|(k, _)| k == name);
            let (_, v) = found.next().ok_or(NoValue::Missing)?;
            if found.next().is_some() {
                return Err(NoValue::Repeated);
            }
            // Decoded with U+FFFD for bytes that are not UTF-8 (`%FF`): refused, as for a
            // header (a U+FFFD sent as such, `%EF%BF%BD`, is refused too).
            if v.contains(char::REPLACEMENT_CHARACTER) {
                return Err(NoValue::NotUtf8);
            }
            Cow::Owned(v.clone())
        }
        IdentitySource::StageVariable(name) => Cow::Borrowed(
            req.stage_vars
                .and_then(|m| m.get(name))
                .ok_or(NoValue::Missing)?
                .as_str(),
        ),
        IdentitySource::Context(name) => Cow::Owned(match name.as_str() {
            "identity.sourceIp" => req.source_ip.to_string(),
            "identity.userAgent" => req.user_agent.ok_or(NoValue::Missing)?.to_owned(),
            "httpMethod" => method.to_owned(),
            "path" => String::from_utf8_lossy(req.head.path.slice(req.buf)).into_owned(),
            "resourcePath" => req.route.template.to_owned(),
            "stage" => stage.to_owned(),
            "apiId" => req.api_id.to_owned(),
            "requestId" => req.request_id.to_owned(),
            "domainName" => host(req),
            // The connection's verified client certificate (mutual TLS): keys a cached
            // result to it. No certificate: missing (401).
            cert => {
                let c = req.client_cert.ok_or(NoValue::Missing)?;
                match cert {
                    "identity.clientCert.clientCertPem" => c.client_cert_pem.clone(),
                    "identity.clientCert.subjectDN" => c.subject_dn.clone(),
                    "identity.clientCert.issuerDN" => c.issuer_dn.clone(),
                    "identity.clientCert.serialNumber" => c.serial_number.clone(),
                    "identity.clientCert.validity.notBefore" => c.not_before.clone(),
                    "identity.clientCert.validity.notAfter" => c.not_after.clone(),
                    _ => return Err(NoValue::Missing),
                }
            }
        }),
    };
    if v.is_empty() {
        Err(NoValue::Missing)
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_time_format() {
        assert_eq!(clf_time(1_583_349_317), "04/Mar/2020:19:15:17 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn decoding() {
        assert_eq!(decode(b"a%20b+c%2F"), "a b+c/");
        assert_eq!(resource_id("api", "/x").len(), 6);
        assert_eq!(resource_id("api", "/x"), resource_id("api", "/x"));
    }
}
