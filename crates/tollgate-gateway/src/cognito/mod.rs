//! cognito authorization (gateway side). Stub: refuses every request until built.

use crate::auth::{AuthContext, AuthRequest};
use crate::responses::{GatewayError, ResponseType};
use crate::snapshot::Snapshot;
use crate::worker::Worker;

/// Per-configuration state, built once per snapshot (`Snapshot::build`).
pub(crate) struct Compiled {}

impl Compiled {
    pub(crate) fn build(_c: &tollgate_config::Compiled) -> Self {
        Compiled {}
    }
}

/// Per-worker state (L1 caches, client pools). Owned by one worker thread.
#[derive(Default)]
pub(crate) struct WorkerState {}

/// State shared by all workers (L2 caches, background refreshers).
#[derive(Default)]
pub(crate) struct SharedState {}

/// Authorize one request; on success return the context enriched with what the backend may see.
pub(crate) async fn authorize(
    _w: &Worker,
    _snap: &Snapshot,
    _req: &AuthRequest<'_>,
    _ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    Err(GatewayError::null_message(ResponseType::AuthorizerConfigurationError))
}
