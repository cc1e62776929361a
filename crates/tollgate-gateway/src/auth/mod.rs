//! Authorization of a routed request. Each authorization type ends in a [`Permit`] (which only
//! this module can make) or a gateway error; the integration runs only with a `Permit`.
//!
//! Every type shares one request view ([`AuthRequest`]) and one context type for what the
//! backend may learn ([`AuthContext`]). The per-type modules decide; this module dispatches.

use std::collections::BTreeMap;
use std::net::IpAddr;

use tollgate_config::Authorization;
use tollgate_http::RequestHead;

use crate::responses::{GatewayError, ResponseType};
use crate::router::OwnedMatch;
use crate::snapshot::Snapshot;
use crate::worker::Worker;

/// What the backend may learn about the caller (`request_headers` mappings).
#[derive(Debug, Default, Clone)]
pub struct AuthContext {
    /// `context.authorizer.principalId`.
    pub principal_id: Option<String>,
    /// `context.authorizer.<key>` (values stringified as AWS does).
    pub authorizer: Vec<(String, String)>,
    /// `context.authorizer.claims.<name>`.
    pub claims: Vec<(String, String)>,
    /// `context.identity.<field>`.
    pub identity: Vec<(&'static str, String)>,
}

/// Proof that a request was authorized. Not constructible outside this module.
pub struct Permit {
    pub ctx: AuthContext,
    _private: (),
}

/// Everything an authorization step may look at.
pub(crate) struct AuthRequest<'a> {
    /// The connection buffer the head's spans point into.
    pub buf: &'a [u8],
    pub head: &'a RequestHead,
    pub route: &'a OwnedMatch,
    pub api_id: &'a str,
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
    pub method_arn: &'a str,
    /// `aws:SourceIp` (the socket peer, the PROXY header's source, or a trusted proxy's XFF).
    pub source_ip: IpAddr,
    /// `aws:SourceVpce` from a PROXY v2 AWS TLV.
    pub vpce_id: Option<&'a str>,
    /// The whole request body, when it was buffered (AWS_IAM payload hash).
    pub body: Option<&'a [u8]>,
    pub stage_vars: Option<&'a BTreeMap<String, String>>,
    pub user_agent: Option<&'a str>,
}

impl AuthRequest<'_> {
    /// The first value of a request header (case-insensitive name).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.header(self.buf, name)
    }
}

/// The context every authorized request carries (`context.identity.sourceIp`, `.userAgent`).
fn base_context(req: &AuthRequest<'_>) -> AuthContext {
    let mut ctx = AuthContext::default();
    ctx.identity.push(("sourceIp", req.source_ip.to_string()));
    if let Some(ua) = req.user_agent {
        ctx.identity.push(("userAgent", ua.to_owned()));
    }
    ctx
}

/// Decide. Types whose enforcement is not built yet refuse every request.
pub(crate) async fn authorize(
    w: &Worker,
    snap: &Snapshot,
    authorization: Authorization,
    req: &AuthRequest<'_>,
) -> Result<Permit, GatewayError> {
    let ctx = base_context(req);
    if authorization != Authorization::None && req.method_arn.len() > MAX_METHOD_ARN {
        return Err(GatewayError::new(ResponseType::Default4xx, "Request-URI Too Long")
            .with_status(414)
            .with_error_type("RequestUriTooLongException"));
    }
    let ctx = match authorization {
        Authorization::None => ctx,
        Authorization::AwsIam => crate::iam::authorize(w, snap, req, ctx).await?,
        Authorization::CognitoUserPools => crate::cognito::authorize(w, snap, req, ctx).await?,
        Authorization::Custom => crate::lambda::authorize(w, snap, req, ctx).await?,
    };
    Ok(Permit { ctx, _private: () })
}

/// AWS answers 414 when an authorized method's ARN is longer than this.
pub(crate) const MAX_METHOD_ARN: usize = 1600;
