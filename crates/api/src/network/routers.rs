//! A router's member actions: `PUT /v2.0/routers/{id}/<action>`, the
//! interfaces (`add_router_interface`, `remove_router_interface`, body
//! `{"subnet_id"|"port_id": ...}`, answer the interface) and the atomic
//! extra routes (`add_extraroutes`, `remove_extraroutes`, body and answer
//! `{"router": {...}}`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::resources::{refuse_write, Collection, NeutronJson};
use super::{Caller, NetError, NetworkState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouterAction {
    AddInterface,
    RemoveInterface,
    AddExtraRoutes,
    RemoveExtraRoutes,
}

pub(crate) async fn act(
    State(st): State<NetworkState>,
    caller: Caller,
    Path(id): Path<String>,
    NeutronJson(body): NeutronJson,
    action: RouterAction,
) -> Result<Json<Value>, NetError> {
    refuse_write(&st, &caller, Collection::Routers, &id).await?;
    let (n, s) = (&st.neutron, &caller.scope);
    let answer = match action {
        RouterAction::AddInterface => n.add_router_interface(s, &id, body).await?,
        RouterAction::RemoveInterface => n.remove_router_interface(s, &id, body).await?,
        RouterAction::AddExtraRoutes => json!({"router": n.add_extraroutes(s, &id, body).await?}),
        RouterAction::RemoveExtraRoutes => {
            json!({"router": n.remove_extraroutes(s, &id, body).await?})
        }
    };
    Ok(Json(answer))
}
