//! Authorization of a routed request. Each authorization type ends in a `Permit` (which only
//! this module can make) or a gateway error; the integration runs only with a `Permit`.

use std::net::IpAddr;

use tollgate_config::Authorization;

use crate::responses::{GatewayError, ResponseType};

/// What the backend may learn about the caller (`request_headers` mappings).
#[derive(Debug, Default, Clone)]
pub struct AuthContext {
    pub principal_id: Option<String>,
    pub authorizer: Vec<(String, String)>,
    pub claims: Vec<(String, String)>,
    pub identity: Vec<(&'static str, String)>,
}

/// Proof that a request was authorized. Not constructible outside this module.
pub struct Permit {
    pub ctx: AuthContext,
    _private: (),
}

/// Facts about the request the authorization step may use.
pub struct RequestFacts<'a> {
    pub source_ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// Decide. Types whose enforcement is not built yet refuse every request.
pub fn authorize(authorization: Authorization, facts: &RequestFacts<'_>) -> Result<Permit, GatewayError> {
    let mut ctx = AuthContext::default();
    ctx.identity.push(("sourceIp", facts.source_ip.to_string()));
    if let Some(ua) = facts.user_agent {
        ctx.identity.push(("userAgent", ua.to_owned()));
    }
    match authorization {
        Authorization::None => Ok(Permit { ctx, _private: () }),
        Authorization::AwsIam | Authorization::CognitoUserPools | Authorization::Custom => Err(
            GatewayError::null_message(ResponseType::AuthorizerConfigurationError),
        ),
    }
}
