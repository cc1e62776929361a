//! The gateway's one error type: every answer the gateway makes itself (rather than the
//! integration) is a [`GatewayError`], built here by a named constructor for its AWS response
//! type and mapped to a response in one place (`pipeline::finish`, with the API's
//! `gateway_responses`). Each carries the operator-facing reason that the stderr line and the
//! access log's `error` field show; the reason is never sent to the client and never holds a
//! token, signature or secret.

use std::borrow::Cow;

use tollgate_config::ResponseType;

/// One gateway error on its way to the client.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub rtype: ResponseType,
    /// `$context.error.message`; `None` renders as JSON `null`.
    pub message: Option<String>,
    /// A more specific `x-amzn-ErrorType` than the type's default (e.g. IncompleteSignatureException).
    pub error_type: Option<&'static str>,
    /// A more specific status than the type's default (e.g. 502 for a refused upstream).
    pub status: Option<u16>,
    /// Why, for operators only (stderr and the access log's `error`), never sent to the
    /// client and never holding a token, signature or secret.
    pub reason: Option<Cow<'static, str>>,
}

impl GatewayError {
    pub fn new(rtype: ResponseType, message: impl Into<String>) -> Self {
        Self {
            rtype,
            message: Some(message.into()),
            error_type: None,
            status: None,
            reason: None,
        }
    }

    pub fn null_message(rtype: ResponseType) -> Self {
        Self {
            rtype,
            message: None,
            error_type: None,
            status: None,
            reason: None,
        }
    }

    /// 403 MISSING_AUTHENTICATION_TOKEN: no route (or an unknown method).
    pub fn missing_token() -> Self {
        Self::new(
            ResponseType::MissingAuthenticationToken,
            "Missing Authentication Token",
        )
    }

    /// 401 UNAUTHORIZED: no or a bad token, or an authorizer that answered Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(ResponseType::Unauthorized, "Unauthorized")
    }

    /// 403 ACCESS_DENIED with AWS's message for the deny case.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ResponseType::AccessDenied, message)
    }

    /// A SigV4 refusal: the response type, message and `x-amzn-ErrorType` AWS uses for it.
    pub fn signature(
        rtype: ResponseType,
        message: impl Into<String>,
        error_type: &'static str,
    ) -> Self {
        Self::new(rtype, message).with_error_type(error_type)
    }

    /// 500 AUTHORIZER_CONFIGURATION_ERROR (`{"message":null}`): an authorizer that could not be
    /// asked or gave no usable answer.
    pub fn authorizer_config_error() -> Self {
        Self::null_message(ResponseType::AuthorizerConfigurationError)
    }

    /// 500 AUTHORIZER_FAILURE.
    pub fn authorizer_failure() -> Self {
        Self::null_message(ResponseType::AuthorizerFailure)
    }

    /// 502 INTEGRATION_FAILURE: the upstream refused, broke off or garbled its answer.
    pub fn integration_failure(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ResponseType::IntegrationFailure, "Internal server error")
            .with_status(502)
            .with_reason(reason)
    }

    /// 504 INTEGRATION_TIMEOUT: the upstream did not answer within the route's timeout.
    pub fn integration_timeout(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ResponseType::IntegrationTimeout,
            "Endpoint request timed out",
        )
        .with_reason(reason)
    }

    /// 429 THROTTLED.
    pub fn throttled() -> Self {
        Self::new(ResponseType::Throttled, "Too Many Requests")
    }

    /// 400 DEFAULT_4XX `BadRequestException`.
    pub fn bad_request() -> Self {
        Self::new(ResponseType::Default4xx, "Bad Request")
            .with_status(400)
            .with_error_type("BadRequestException")
    }

    /// 408 DEFAULT_4XX `RequestTimeoutException`: a head or body that did not arrive in time.
    pub fn request_timeout() -> Self {
        Self::new(ResponseType::Default4xx, "Request Timeout")
            .with_status(408)
            .with_error_type("RequestTimeoutException")
    }

    /// 413 REQUEST_TOO_LARGE.
    pub fn too_large() -> Self {
        Self::new(ResponseType::RequestTooLarge, "Request Too Long")
    }

    /// 414 DEFAULT_4XX: a method ARN longer than AWS accepts.
    pub fn uri_too_long() -> Self {
        Self::new(ResponseType::Default4xx, "Request-URI Too Long")
            .with_status(414)
            .with_error_type("RequestUriTooLongException")
    }

    /// 503 DEFAULT_5XX `ServiceUnavailableException`.
    pub fn unavailable() -> Self {
        Self::new(ResponseType::Default5xx, "Service Unavailable")
            .with_status(503)
            .with_error_type("ServiceUnavailableException")
    }

    /// A malformed request the HTTP parser refused with `status` (4xx `BadRequestException`,
    /// 5xx `NotImplementedException`).
    pub fn protocol(status: u16, phrase: &str) -> Self {
        Self::new(ResponseType::Default4xx, phrase)
            .with_status(status)
            .with_error_type(if status >= 500 {
                "NotImplementedException"
            } else {
                "BadRequestException"
            })
    }

    pub fn with_error_type(mut self, t: &'static str) -> Self {
        self.error_type = Some(t);
        self
    }

    pub fn with_status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }

    /// The operator-facing reason (see [`GatewayError::reason`]).
    pub fn with_reason(mut self, r: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(r.into());
        self
    }
}
