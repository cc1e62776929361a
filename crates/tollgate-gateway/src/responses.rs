//! Gateway responses: AWS's response types with their default status, `x-amzn-ErrorType`
//! and body, and the per-API overrides of `gateway_responses`.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::response::{Response, ResponseHead};

/// AWS API Gateway's gateway response types (REST): the configuration's own enum, with the
/// data path's facts about each type added by [`ResponseTypeExt`].
pub use tollgate_config::ResponseType;

pub use crate::error::GatewayError;

const ALL: [(ResponseType, &str); 21] = [
    (ResponseType::AccessDenied, "ACCESS_DENIED"),
    (
        ResponseType::ApiConfigurationError,
        "API_CONFIGURATION_ERROR",
    ),
    (
        ResponseType::AuthorizerConfigurationError,
        "AUTHORIZER_CONFIGURATION_ERROR",
    ),
    (ResponseType::AuthorizerFailure, "AUTHORIZER_FAILURE"),
    (ResponseType::BadRequestParameters, "BAD_REQUEST_PARAMETERS"),
    (ResponseType::BadRequestBody, "BAD_REQUEST_BODY"),
    (ResponseType::Default4xx, "DEFAULT_4XX"),
    (ResponseType::Default5xx, "DEFAULT_5XX"),
    (ResponseType::ExpiredToken, "EXPIRED_TOKEN"),
    (ResponseType::IntegrationFailure, "INTEGRATION_FAILURE"),
    (ResponseType::IntegrationTimeout, "INTEGRATION_TIMEOUT"),
    (ResponseType::InvalidApiKey, "INVALID_API_KEY"),
    (ResponseType::InvalidSignature, "INVALID_SIGNATURE"),
    (
        ResponseType::MissingAuthenticationToken,
        "MISSING_AUTHENTICATION_TOKEN",
    ),
    (ResponseType::QuotaExceeded, "QUOTA_EXCEEDED"),
    (ResponseType::RequestTooLarge, "REQUEST_TOO_LARGE"),
    (ResponseType::ResourceNotFound, "RESOURCE_NOT_FOUND"),
    (ResponseType::Throttled, "THROTTLED"),
    (ResponseType::Unauthorized, "UNAUTHORIZED"),
    (ResponseType::UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (ResponseType::WafFiltered, "WAF_FILTERED"),
];

/// What the data path needs to know about a response type.
pub trait ResponseTypeExt: Sized {
    /// The name used in configs and `$context.error.responseType`.
    fn name(self) -> &'static str;
    /// Parse a configuration name such as `ACCESS_DENIED`.
    fn from_name(name: &str) -> Option<Self>;
    /// AWS's default status code.
    fn default_status(self) -> u16;
    /// The `x-amzn-ErrorType` AWS sends with this response type by default.
    fn error_type(self) -> &'static str;
    /// A 5xx type (falls back to `DEFAULT_5XX`, others to `DEFAULT_4XX`).
    fn is_server_error(&self) -> bool;
}

impl ResponseTypeExt for ResponseType {
    fn name(self) -> &'static str {
        ALL.iter()
            .find(|(t, _)| *t == self)
            .map_or("DEFAULT_4XX", |(_, n)| n)
    }

    fn from_name(name: &str) -> Option<Self> {
        ALL.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }

    fn default_status(self) -> u16 {
        use ResponseType::*;
        match self {
            AccessDenied
            | ExpiredToken
            | InvalidApiKey
            | InvalidSignature
            | MissingAuthenticationToken
            | WafFiltered => 403,
            ApiConfigurationError
            | AuthorizerConfigurationError
            | AuthorizerFailure
            | Default5xx => 500,
            BadRequestParameters | BadRequestBody | Default4xx => 400,
            IntegrationFailure | IntegrationTimeout => 504,
            QuotaExceeded | Throttled => 429,
            RequestTooLarge => 413,
            ResourceNotFound => 404,
            Unauthorized => 401,
            UnsupportedMediaType => 415,
        }
    }

    fn error_type(self) -> &'static str {
        use ResponseType::*;
        match self {
            AccessDenied => "AccessDeniedException",
            ApiConfigurationError => "ApiConfigurationException",
            AuthorizerConfigurationError => "AuthorizerConfigurationException",
            AuthorizerFailure => "AuthorizerFailureException",
            BadRequestParameters | BadRequestBody | UnsupportedMediaType | Default4xx => {
                "BadRequestException"
            }
            Default5xx | IntegrationFailure | IntegrationTimeout => "InternalServerErrorException",
            ExpiredToken => "ExpiredTokenException",
            InvalidApiKey => "ForbiddenException",
            InvalidSignature => "InvalidSignatureException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            QuotaExceeded => "LimitExceededException",
            RequestTooLarge => "RequestTooLargeException",
            ResourceNotFound => "ResourceNotFoundException",
            Throttled => "TooManyRequestsException",
            Unauthorized => "UnauthorizedException",
            WafFiltered => "WafFilteredException",
        }
    }

    fn is_server_error(&self) -> bool {
        self.default_status() >= 500
    }
}

impl GatewayError {
    /// The status this error is answered with when no override changes it.
    pub fn default_status(&self) -> u16 {
        self.status.unwrap_or(self.rtype.default_status())
    }

    /// The operator-facing reason: its `reason`, else its message or type.
    pub fn reason_text(&self) -> &str {
        self.reason
            .as_deref()
            .or(self.message.as_deref())
            .unwrap_or_else(|| self.rtype.name())
    }
}

/// A compiled body template: literal text and the `$context` variables it names.
#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    MessageString,
    Message,
    ResponseType,
    RequestId,
}

#[derive(Debug, Clone)]
pub struct Template(Vec<Piece>);

impl Template {
    pub fn compile(src: &str) -> Self {
        type Var = (&'static str, fn() -> Piece);
        const VARS: [Var; 4] = [
            ("$context.error.messageString", || Piece::MessageString),
            ("$context.error.message", || Piece::Message),
            ("$context.error.responseType", || Piece::ResponseType),
            ("$context.requestId", || Piece::RequestId),
        ];
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        'outer: while !rest.is_empty() {
            if rest.starts_with('$') {
                for (name, make) in VARS {
                    if let Some(after) = rest.strip_prefix(name) {
                        if !lit.is_empty() {
                            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        pieces.push(make());
                        rest = after;
                        continue 'outer;
                    }
                }
            }
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                lit.push(c);
            }
            rest = chars.as_str();
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Template(pieces)
    }

    fn render(&self, err: &GatewayError, request_id: &str, out: &mut Vec<u8>) {
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Piece::MessageString => json_string_or_null(err.message.as_deref(), out),
                Piece::Message => {
                    if let Some(m) = &err.message {
                        out.extend_from_slice(m.as_bytes());
                    }
                }
                Piece::ResponseType => out.extend_from_slice(err.rtype.name().as_bytes()),
                Piece::RequestId => out.extend_from_slice(request_id.as_bytes()),
            }
        }
    }
}

/// Write `s` as a JSON string literal, or `null`.
pub fn json_string_or_null(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        None => out.extend_from_slice(b"null"),
        Some(s) => match serde_json::to_vec(s) {
            Ok(v) => out.extend_from_slice(&v),
            Err(_) => out.extend_from_slice(b"null"),
        },
    }
}

/// One API's override for a response type.
#[derive(Debug, Clone, Default)]
pub struct Override {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Template>,
}

/// The per-API table of overrides (`gateway_responses`).
#[derive(Debug, Clone, Default)]
pub struct GatewayResponses {
    map: HashMap<ResponseType, Override>,
}

impl GatewayResponses {
    pub fn insert(&mut self, t: ResponseType, o: Override) {
        self.map.insert(t, o);
    }

    fn lookup(&self, t: ResponseType) -> Option<&Override> {
        self.map.get(&t).or_else(|| {
            let fallback = if t.is_server_error() {
                ResponseType::Default5xx
            } else {
                ResponseType::Default4xx
            };
            self.map.get(&fallback)
        })
    }

    /// The response for `err` under this API's overrides.
    pub(crate) fn response<'a>(
        &'a self,
        err: &'a GatewayError,
        request_id: &'a str,
    ) -> Response<'a> {
        response(Some(self), err, request_id)
    }
}

/// The response for a gateway error with AWS defaults (no API known, e.g. unknown host).
pub(crate) fn default_response<'a>(err: &'a GatewayError, request_id: &'a str) -> Response<'a> {
    response(None, err, request_id)
}

/// A gateway error's response, protocol-neutral: status, headers (`content-type`,
/// `x-amzn-RequestId`, `x-amzn-ErrorType`, the override's headers) and the JSON body.
fn response<'a>(
    table: Option<&'a GatewayResponses>,
    err: &'a GatewayError,
    request_id: &'a str,
) -> Response<'a> {
    let ov = table.and_then(|t| t.lookup(err.rtype));
    let status = ov
        .and_then(|o| o.status)
        .or(err.status)
        .unwrap_or_else(|| err.rtype.default_status());
    let mut body = Vec::with_capacity(64);
    match ov.and_then(|o| o.body.as_ref()) {
        Some(t) => t.render(err, request_id, &mut body),
        None => {
            body.extend_from_slice(if err.rtype == ResponseType::AccessDenied {
                b"{\"Message\":"
            } else {
                b"{\"message\":"
            });
            json_string_or_null(err.message.as_deref(), &mut body);
            body.push(b'}');
        }
    }
    let mut head = ResponseHead::new(status);
    head.push(b"content-type", b"application/json");
    head.mark_framing();
    head.push(b"x-amzn-RequestId", request_id.as_bytes());
    let error_type = err.error_type.unwrap_or_else(|| err.rtype.error_type());
    head.push(b"x-amzn-ErrorType", error_type.as_bytes());
    if let Some(o) = ov {
        for (k, v) in &o.headers {
            head.push(k.as_bytes(), v.as_bytes());
        }
    }
    Response {
        head,
        body: Cow::Owned(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    /// The response as the HTTP/1 writer sends it; returns its status.
    fn render_default(err: &GatewayError, rid: &str, close: bool, out: &mut Vec<u8>) -> u16 {
        let r = default_response(err, rid);
        crate::http1::write_response(out, &r, false, close);
        r.head.status
    }

    #[test]
    fn access_denied_uses_capital_message() {
        let mut out = Vec::new();
        let e = GatewayError::new(
            ResponseType::AccessDenied,
            "User is not authorized to access this resource",
        );
        let s = render_default(&e, "rid", false, &mut out);
        assert_eq!(s, 403);
        let t = text(&out);
        assert!(t.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(t.contains("x-amzn-ErrorType: AccessDeniedException\r\n"));
        assert!(
            t.ends_with("\r\n\r\n{\"Message\":\"User is not authorized to access this resource\"}")
        );
    }

    #[test]
    fn null_message_and_overrides() {
        let mut g = GatewayResponses::default();
        g.insert(
            ResponseType::Default5xx,
            Override {
                status: Some(503),
                headers: vec![("x-a".into(), "b".into())],
                body: Some(Template::compile(
                    "{\"m\":$context.error.messageString,\"t\":\"$context.error.responseType\"}",
                )),
            },
        );
        let mut out = Vec::new();
        let err = GatewayError::null_message(ResponseType::AuthorizerConfigurationError);
        let r = g.response(&err, "r");
        assert_eq!(r.head.status, 503);
        assert_eq!(r.head.get(b"x-a"), Some(&b"b"[..]));
        crate::http1::write_response(&mut out, &r, false, true);
        let t = text(&out);
        assert!(t.contains("x-a: b\r\n"), "{t}");
        assert!(t.contains("connection: close\r\n"));
        assert!(
            t.ends_with("{\"m\":null,\"t\":\"AUTHORIZER_CONFIGURATION_ERROR\"}"),
            "{t}"
        );
        let mut out = Vec::new();
        render_default(
            &GatewayError::null_message(ResponseType::AuthorizerConfigurationError),
            "r",
            false,
            &mut out,
        );
        assert!(text(&out).ends_with("{\"message\":null}"));
    }

    #[test]
    fn names_round_trip() {
        for (t, n) in ALL {
            assert_eq!(ResponseType::from_name(n), Some(t));
            assert_eq!(t.name(), n);
        }
    }
}
