//! SigV4 signing of each request with the official `aws-sigv4` crate, over one or many
//! access keys used round-robin.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::LoadError;

/// One access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// Access key id.
    pub id: String,
    /// Secret access key.
    pub secret: String,
    /// Session token of temporary credentials (sent as `X-Amz-Security-Token`).
    pub session_token: Option<String>,
}

/// Parses a keys file: one `id:secret` or `id:secret:session_token` per line; blank lines
/// and lines starting with `#` are skipped.
pub fn parse_keys(text: &str) -> Result<Vec<AccessKey>, LoadError> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(secret)) = (parts.next(), parts.next()) else {
            return Err(LoadError::Option(format!(
                "keys file line {}: expected id:secret[:session_token]",
                n + 1
            )));
        };
        if id.is_empty() || secret.is_empty() {
            return Err(LoadError::Option(format!(
                "keys file line {}: empty id or secret",
                n + 1
            )));
        }
        keys.push(AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            session_token: parts.next().filter(|t| !t.is_empty()).map(str::to_owned),
        });
    }
    if keys.is_empty() {
        return Err(LoadError::Option("keys file holds no keys".into()));
    }
    Ok(keys)
}

/// Signs requests with a rotating set of keys.
pub struct SigV4Signer {
    identities: Vec<Identity>,
    region: String,
    service: String,
}

impl std::fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("keys", &self.identities.len())
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

impl SigV4Signer {
    /// A signer over `keys` (at least one) for `region` / `service` (e.g. `execute-api`).
    pub fn new(keys: &[AccessKey], region: &str, service: &str) -> Result<Self, LoadError> {
        if keys.is_empty() {
            return Err(LoadError::Option(
                "SigV4 needs at least one access key".into(),
            ));
        }
        Ok(Self {
            identities: keys
                .iter()
                .map(|k| {
                    Credentials::new(
                        k.id.clone(),
                        k.secret.clone(),
                        k.session_token.clone(),
                        None,
                        "tollgate-load",
                    )
                    .into()
                })
                .collect(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// How many keys rotate.
    pub fn key_count(&self) -> usize {
        self.identities.len()
    }

    /// Signs one request with key `index % key_count` at `time`; returns the headers to add
    /// (`authorization`, `x-amz-date`, `x-amz-content-sha256`?, `x-amz-security-token`?).
    /// `url` is absolute (`http://host/path?query`); `headers` must include `host`.
    pub fn sign(
        &self,
        index: usize,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, LoadError> {
        let identity = self
            .identities
            .get(index % self.identities.len().max(1))
            .ok_or_else(|| LoadError::Sign("no key".into()))?;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| LoadError::Sign(e.to_string()))?
            .into();
        let req = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| LoadError::Sign(e.to_string()))?;
        let (instructions, _) = sign(req, &params)
            .map_err(|e| LoadError::Sign(e.to_string()))?
            .into_parts();
        let (hdrs, _params) = instructions.into_parts();
        Ok(hdrs
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn keys_file() {
        let k = parse_keys("# c\nAKID1:s1\n\nAKID2:s2:tok\n").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[1].session_token.as_deref(), Some("tok"));
        assert!(parse_keys("nocolon\n").is_err());
        assert!(parse_keys("# only\n").is_err());
    }

    #[test]
    fn authorization_shape_and_rotation() {
        let keys = parse_keys("AKIDONE:secret1\nAKIDTWO:secret2:token2\n").unwrap();
        let s = SigV4Signer::new(&keys, "us-east-1", "execute-api").unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
        let headers = vec![("host".to_owned(), "127.0.0.1:8080".to_owned())];
        let url = "http://127.0.0.1:8080/prod/admin/x?a=1";
        let h0 = s.sign(0, "GET", url, &headers, b"", t).unwrap();
        let get = |h: &[(String, String)], n: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let auth = get(&h0, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDONE/20260101/us-east-1/execute-api/aws4_request, SignedHeaders="
            ),
            "{auth}"
        );
        let sig = auth.rsplit("Signature=").next().unwrap();
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(auth.contains("host;x-amz-date"), "{auth}");
        assert_eq!(get(&h0, "x-amz-date").unwrap(), "20260101T000000Z");
        assert!(get(&h0, "x-amz-security-token").is_none());
        // Same input, same signature; other key, other signature and a session token.
        assert_eq!(s.sign(2, "GET", url, &headers, b"", t).unwrap(), h0);
        let h1 = s.sign(1, "GET", url, &headers, b"", t).unwrap();
        assert!(
            get(&h1, "authorization")
                .unwrap()
                .contains("Credential=AKIDTWO/")
        );
        assert_eq!(get(&h1, "x-amz-security-token").unwrap(), "token2");
        // The body is covered.
        let hb = s.sign(0, "POST", url, &headers, b"{}", t).unwrap();
        assert_ne!(get(&hb, "authorization"), get(&h0, "authorization"));
    }
}
