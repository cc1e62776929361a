//! Phase 3, authorize: the route's authorization type decides, through `auth`, with an
//! [`AuthEnv`] made of the worker's caches and metrics and the route's compiled authorizer
//! and resource policy. The result is a [`Permit`] or the typed error `finish` answers.

use tollgate_http::RequestHead;

use crate::auth::{self, AuthEnv, AuthRequest, Permit};
use crate::error::GatewayError;
use crate::state::Worker;

use super::prepare::{Prepared, reframe_decoded};
use super::{Conn, Exchange, RouteCtx};

pub(crate) async fn authorize<S>(
    w: &Worker,
    c: &mut Conn<S>,
    head: &RequestHead,
    rc: &RouteCtx<'_>,
    prepared: &Prepared,
    ex: &Exchange,
) -> Result<Permit, GatewayError> {
    let snap = rc.snapshot;
    let authorization = rc.route.authorization;
    let env = AuthEnv {
        metrics: &w.metrics,
        caches: &w.auth,
        shared: &w.shared.auth,
        clock: std::time::SystemTime::now,
        authorizer: snap.route_authorizer(rc.m.api, rc.m.route, authorization),
        resource_policy: rc.api.resource_policy.as_ref(),
        account_id: &snap.compiled.config.gateway.account_id,
        region: &snap.compiled.config.gateway.region,
        message_style: auth::message_style(&snap.compiled.config.gateway),
        client_tls: &snap.compiled.client_tls,
    };
    let buffered = prepared.buffered.as_ref();
    // From the head (still in the buffer): borrowed unless it is not UTF-8.
    let user_agent = head
        .header(&c.buf, b"user-agent")
        .map(String::from_utf8_lossy);
    let wants_identity = !matches!(
        rc.route.integration,
        crate::snapshot::IntegrationRt::Mock(_)
    );
    let req = AuthRequest {
        buf: &c.buf,
        head,
        route: &rc.m,
        api_id: &rc.api_cfg.id,
        method_arn: &prepared.method_arn,
        source_ip: prepared.source_ip,
        vpce_id: c.vpce_id.as_deref(),
        body: buffered.and_then(|b| c.buf.get(b.data.clone())),
        stage_vars: rc.stage_vars(),
        user_agent: user_agent.as_deref(),
        wants_identity,
        wants_caller: wants_identity || ex.logged,
        request_id: ex.rid.as_str(), // lambda: requestContext.requestId
        client_cert: c.client_cert.as_deref(),
    };
    let decided = auth::authorize(&env, authorization, &req).await;
    // The buffer holds a decoded chunked body: frame it again, as the body reader expects.
    if let Some(b) = buffered.filter(|b| b.decoded) {
        reframe_decoded(&mut c.buf, b.data.clone());
    }
    decided
}
