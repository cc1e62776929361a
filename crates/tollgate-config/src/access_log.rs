//! `gateway.access_log_format`: an access-log record template with API Gateway's
//! `$context.*` variables, so an API Gateway access-log format carries over unchanged.
//!
//! ```
//! use tollgate_config::{AccessLogFormat, ContextVar, Var};
//! let f = AccessLogFormat::parse("$context.requestId $context.status $context.identity.user").unwrap();
//! let mut line = String::new();
//! f.render(&mut line, |v| match v {
//!     Var::Context(ContextVar::RequestId) => Some("r-1"),
//!     Var::Context(ContextVar::Status) => Some("403"),
//!     _ => None,
//! });
//! assert_eq!(line, "r-1 403 -");
//! ```

use std::fmt;

/// Longest format accepted (bytes).
pub const MAX_ACCESS_LOG_FORMAT_BYTES: usize = 4096;

macro_rules! context_vars {
    ($($variant:ident => $name:literal,)*) => {
        /// A `$context.NAME` variable with a fixed name (AWS's names; see
        /// docs/observability.md for what tollgate fills in).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ContextVar {
            $(#[doc = concat!("`$context.", $name, "`")] $variant,)*
        }

        impl ContextVar {
            /// Every fixed variable, in documentation order.
            pub const ALL: &'static [ContextVar] = &[$(ContextVar::$variant,)*];

            /// The name after `$context.`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ContextVar::$variant => $name,)*
                }
            }

            /// The variable named `name` (without `$context.`).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(ContextVar::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

context_vars! {
    AccountId => "accountId",
    ApiId => "apiId",
    AuthorizeError => "authorize.error",
    AuthorizeLatency => "authorize.latency",
    AuthorizeStatus => "authorize.status",
    AuthorizerError => "authorizer.error",
    AuthorizerIntegrationLatency => "authorizer.integrationLatency",
    AuthorizerIntegrationStatus => "authorizer.integrationStatus",
    AuthorizerLatency => "authorizer.latency",
    AuthorizerPrincipalId => "authorizer.principalId",
    AuthorizerRequestId => "authorizer.requestId",
    AuthorizerStatus => "authorizer.status",
    AuthenticateError => "authenticate.error",
    AuthenticateLatency => "authenticate.latency",
    AuthenticateStatus => "authenticate.status",
    AwsEndpointRequestId => "awsEndpointRequestId",
    DeploymentId => "deploymentId",
    DomainName => "domainName",
    DomainPrefix => "domainPrefix",
    ErrorMessage => "error.message",
    ErrorMessageString => "error.messageString",
    ErrorResponseType => "error.responseType",
    ErrorValidationErrorString => "error.validationErrorString",
    ExtendedRequestId => "extendedRequestId",
    HttpMethod => "httpMethod",
    IdentityAccountId => "identity.accountId",
    IdentityApiKey => "identity.apiKey",
    IdentityApiKeyId => "identity.apiKeyId",
    IdentityCaller => "identity.caller",
    IdentityCognitoAuthenticationProvider => "identity.cognitoAuthenticationProvider",
    IdentityCognitoAuthenticationType => "identity.cognitoAuthenticationType",
    IdentityCognitoIdentityId => "identity.cognitoIdentityId",
    IdentityCognitoIdentityPoolId => "identity.cognitoIdentityPoolId",
    IdentityPrincipalOrgId => "identity.principalOrgId",
    IdentitySourceIp => "identity.sourceIp",
    IdentityUser => "identity.user",
    IdentityUserAgent => "identity.userAgent",
    IdentityUserArn => "identity.userArn",
    IdentityVpcId => "identity.vpcId",
    IdentityVpceId => "identity.vpceId",
    IntegrationError => "integration.error",
    IntegrationIntegrationStatus => "integration.integrationStatus",
    IntegrationLatencyMs => "integration.latency",
    IntegrationRequestId => "integration.requestId",
    IntegrationStatusCode => "integration.status",
    IntegrationLatency => "integrationLatency",
    IntegrationStatus => "integrationStatus",
    IsCanaryRequest => "isCanaryRequest",
    Path => "path",
    Protocol => "protocol",
    RequestId => "requestId",
    RequestTime => "requestTime",
    RequestTimeEpoch => "requestTimeEpoch",
    ResourceId => "resourceId",
    ResourcePath => "resourcePath",
    ResponseLatency => "responseLatency",
    ResponseLength => "responseLength",
    Stage => "stage",
    Status => "status",
    WafResponseCode => "wafResponseCode",
    WebaclArn => "webaclArn",
    XrayTraceId => "xrayTraceId",
}

/// One variable of a format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Var {
    /// `$context.NAME` with a fixed name.
    Context(ContextVar),
    /// `$context.authorizer.claims.NAME` or `$context.authorizer.claims['NAME']`: a claim
    /// of a Cognito authorizer's token.
    Claim(String),
    /// `$context.authorizer.NAME`: a key of a Lambda authorizer's `context`.
    AuthorizerProperty(String),
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Context(c) => write!(f, "$context.{}", c.name()),
            Var::Claim(n) => write!(f, "$context.authorizer.claims.{n}"),
            Var::AuthorizerProperty(n) => write!(f, "$context.authorizer.{n}"),
        }
    }
}

/// How values are escaped, chosen by the format's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// `{`: JSON string escaping (`"`, `\`, control characters).
    Json,
    /// `<`: XML escaping (`&`, `<`, `>`, `"`, `'`; control characters dropped).
    Xml,
    /// Anything else: control characters as `\xNN`, so a record stays one line.
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Var(Var),
}

/// A parsed `gateway.access_log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    pieces: Vec<Piece>,
    escape: Escape,
}

impl AccessLogFormat {
    /// Parse a format, or say what is wrong with it. Like API Gateway, the format must
    /// contain `$context.requestId` or `$context.extendedRequestId`.
    pub fn parse(format: &str) -> Result<Self, String> {
        if format.trim().is_empty() {
            return Err("the format is empty".to_owned());
        }
        if format.len() > MAX_ACCESS_LOG_FORMAT_BYTES {
            return Err(format!(
                "the format is longer than {MAX_ACCESS_LOG_FORMAT_BYTES} bytes"
            ));
        }
        if format.contains(['\r', '\n']) {
            return Err("the format must be one line (one record per line)".to_owned());
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = format;
        while let Some(at) = rest.find("$context") {
            lit.push_str(rest.get(..at).unwrap_or(""));
            let after = rest.get(at + "$context".len()..).unwrap_or("");
            let (var, remaining) = parse_var(after)?;
            if !lit.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(var));
            rest = remaining;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        let has_id = pieces.iter().any(|p| {
            matches!(
                p,
                Piece::Var(Var::Context(
                    ContextVar::RequestId | ContextVar::ExtendedRequestId
                ))
            )
        });
        if !has_id {
            return Err(
                "the format must contain $context.requestId or $context.extendedRequestId (as API Gateway requires)"
                    .to_owned(),
            );
        }
        let escape = match format.trim_start().as_bytes().first() {
            Some(b'{') => Escape::Json,
            Some(b'<') => Escape::Xml,
            _ => Escape::Text,
        };
        Ok(AccessLogFormat { pieces, escape })
    }

    /// The variables the format uses, in order (a caller may compute only these).
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Literal(_) => None,
        })
    }

    /// Append one record to `out`: each variable's value from `lookup`, `-` when it has
    /// none (as API Gateway writes a missing value). Values are escaped for the format's
    /// kind: JSON when it starts with `{`, XML when it starts with `<`, otherwise control
    /// characters are written as `\xNN`.
    pub fn render<'v>(&self, out: &mut String, lookup: impl Fn(&Var) -> Option<&'v str>) {
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Var(v) => match lookup(v) {
                    Some(value) => escape_into(out, value, self.escape),
                    None => out.push('-'),
                },
            }
        }
    }
}

/// One variable after `$context`; returns it and the text after it.
fn parse_var(after: &str) -> Result<(Var, &str), String> {
    let Some(body) = after.strip_prefix('.') else {
        return Err("\"$context\" must be followed by .NAME (e.g. $context.requestId)".to_owned());
    };
    // claims['name'] (a claim name with characters a dotted name cannot hold)
    if let Some(r) = body.strip_prefix("authorizer.claims['") {
        let Some((name, remaining)) = r.split_once("']") else {
            return Err("unterminated $context.authorizer.claims['...']".to_owned());
        };
        if name.is_empty() || name.contains(char::is_control) {
            return Err(format!(
                "invalid claim name in $context.authorizer.claims['{name}']"
            ));
        }
        return Ok((Var::Claim(name.to_owned()), remaining));
    }
    let len = name_len(body);
    let (name, remaining) = body.split_at(len);
    if let Some(v) = ContextVar::from_name(name) {
        return Ok((Var::Context(v), remaining));
    }
    if let Some(claim) = name.strip_prefix("authorizer.claims.")
        && !claim.is_empty()
    {
        return Ok((Var::Claim(claim.to_owned()), remaining));
    }
    if let Some(key) = name.strip_prefix("authorizer.")
        && !key.is_empty()
        && !key.contains('.')
        && key != "claims"
    {
        return Ok((Var::AuthorizerProperty(key.to_owned()), remaining));
    }
    Err(format!(
        "unknown variable $context.{name} (see the list of $context variables in docs/observability.md)"
    ))
}

/// Length of a dotted variable name: `[A-Za-z0-9_]` runs joined by `.` (a `.` not
/// followed by a name character ends the name, e.g. a sentence's full stop).
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    loop {
        while b.get(i).copied().is_some_and(is_name) {
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(b'.'), Some(&c)) if is_name(c) && i > 0 => i += 1,
            _ => return i,
        }
    }
}

fn escape_into(out: &mut String, value: &str, escape: Escape) {
    use std::fmt::Write;
    for c in value.chars() {
        match (escape, c) {
            (Escape::Json, '"') => out.push_str("\\\""),
            (Escape::Json, '\\') => out.push_str("\\\\"),
            (Escape::Json, c) if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            (Escape::Xml, '&') => out.push_str("&amp;"),
            (Escape::Xml, '<') => out.push_str("&lt;"),
            (Escape::Xml, '>') => out.push_str("&gt;"),
            (Escape::Xml, '"') => out.push_str("&quot;"),
            (Escape::Xml, '\'') => out.push_str("&apos;"),
            (Escape::Xml, c) if c.is_control() => {}
            (Escape::Text, c) if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            (_, c) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    // API Gateway's documented example formats (CloudWatch access logging).
    const CLF: &str = r#"$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength $context.requestId $context.extendedRequestId"#;
    const JSON: &str = r#"{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId","ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", "user":"$context.identity.user", "requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod", "resourcePath":"$context.resourcePath", "status":"$context.status", "protocol":"$context.protocol", "responseLength":"$context.responseLength" }"#;
    const XML: &str = r#"<request id="$context.requestId"> <extendedRequestId>$context.extendedRequestId</extendedRequestId> <ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> <user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> <protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> </request>"#;
    const CSV: &str = "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId";

    /// A request as the gateway would describe it: no caller / user (not IAM).
    fn lookup(v: &Var) -> Option<&'static str> {
        let Var::Context(c) = v else { return None };
        Some(match c {
            ContextVar::IdentitySourceIp => "192.0.2.7",
            ContextVar::RequestTime => "30/Nov/2026:18:00:00 +0000",
            ContextVar::HttpMethod => "GET",
            ContextVar::ResourcePath => "/pets/{id}",
            ContextVar::Protocol => "HTTP/1.1",
            ContextVar::Status => "200",
            ContextVar::ResponseLength => "42",
            ContextVar::RequestId => "c0ffee",
            ContextVar::ExtendedRequestId => "EXT=",
            _ => return None,
        })
    }

    fn render(format: &str) -> String {
        let f = AccessLogFormat::parse(format).unwrap();
        let mut out = String::new();
        f.render(&mut out, lookup);
        out
    }

    #[test]
    fn clf() {
        assert_eq!(
            render(CLF),
            r#"192.0.2.7 - - [30/Nov/2026:18:00:00 +0000] "GET /pets/{id} HTTP/1.1" 200 42 c0ffee EXT="#
        );
    }

    #[test]
    fn json_is_json() {
        let line = render(JSON);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["requestId"], "c0ffee");
        assert_eq!(v["ip"], "192.0.2.7");
        assert_eq!(v["caller"], "-");
        assert_eq!(v["resourcePath"], "/pets/{id}");
        assert_eq!(v["responseLength"], "42");
    }

    #[test]
    fn xml() {
        let line = render(XML);
        assert!(line.starts_with(r#"<request id="c0ffee"> <extendedRequestId>EXT=</extendedRequestId> <ip>192.0.2.7</ip> <caller>-</caller>"#), "{line}");
        assert!(
            line.ends_with("<responseLength>42</responseLength> </request>"),
            "{line}"
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            render(CSV),
            "192.0.2.7,-,-,30/Nov/2026:18:00:00 +0000,GET,/pets/{id},HTTP/1.1,200,42,c0ffee,EXT="
        );
    }

    #[test]
    fn every_documented_name_parses_and_round_trips() {
        for v in ContextVar::ALL {
            let f = AccessLogFormat::parse(&format!("$context.requestId $context.{}", v.name()))
                .unwrap();
            let vars: Vec<&Var> = f.vars().collect();
            assert_eq!(vars[1], &Var::Context(*v), "{}", v.name());
            assert_eq!(vars[1].to_string(), format!("$context.{}", v.name()));
        }
    }

    #[test]
    fn claims_and_authorizer_properties() {
        let f = AccessLogFormat::parse(
            "$context.requestId $context.authorizer.claims.email $context.authorizer.claims['cognito:username'] $context.authorizer.tenant $context.authorizer.principalId.",
        )
        .unwrap();
        let vars: Vec<Var> = f.vars().cloned().collect();
        assert_eq!(
            vars,
            [
                Var::Context(ContextVar::RequestId),
                Var::Claim("email".into()),
                Var::Claim("cognito:username".into()),
                Var::AuthorizerProperty("tenant".into()),
                Var::Context(ContextVar::AuthorizerPrincipalId),
            ]
        );
        let mut out = String::new();
        f.render(&mut out, |v| match v {
            Var::Claim(n) if n == "email" => Some("a@example.com"),
            Var::AuthorizerProperty(_) => Some("t1"),
            Var::Context(ContextVar::RequestId) => Some("r"),
            _ => None,
        });
        // the full stop after the last variable is text
        assert_eq!(out, "r a@example.com - t1 -.");
    }

    #[test]
    fn refusals_say_why() {
        for (format, want) in [
            (
                "$context.requestId $context.nope",
                "unknown variable $context.nope",
            ),
            (
                "$context.requestId $context.identity.password",
                "unknown variable $context.identity.password",
            ),
            (
                "$context.status",
                "must contain $context.requestId or $context.extendedRequestId",
            ),
            ("$context.requestId $context", "must be followed by .NAME"),
            (
                "$context.requestId $context.authorizer.claims['x",
                "unterminated",
            ),
            ("$context.requestId\n", "one line"),
            ("  ", "empty"),
        ] {
            let e = AccessLogFormat::parse(format).unwrap_err();
            assert!(e.contains(want), "{format:?}: {e}");
        }
        let long = format!(
            "$context.requestId{}",
            " ".repeat(MAX_ACCESS_LOG_FORMAT_BYTES)
        );
        assert!(AccessLogFormat::parse(&long).is_err());
    }

    #[test]
    fn values_cannot_break_the_record() {
        let hostile = "a\"b\\c\nd<e>&";
        let one = |format: &str| {
            let f = AccessLogFormat::parse(format).unwrap();
            let mut out = String::new();
            f.render(&mut out, |_| Some(hostile));
            out
        };
        let json = one(r#"{"id":"$context.requestId","ua":"$context.identity.userAgent"}"#);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["ua"], hostile);
        assert_eq!(
            one("<r>$context.requestId</r>"),
            "<r>a&quot;b\\cd&lt;e&gt;&amp;</r>"
        );
        assert_eq!(one("$context.requestId"), "a\"b\\c\\x0ad<e>&");
    }

    #[test]
    fn dollars_that_are_not_context_variables_are_text() {
        assert_eq!(
            render("$5 $context.requestId $stageVariables.x"),
            "$5 c0ffee $stageVariables.x"
        );
    }
}
