//! Server sub-resources: ips, metadata, volume attachments, tags,
//! instance actions and remote consoles; one module each.

mod consoles;
mod instance_actions;
mod ips;
mod metadata;
mod tags;
mod volume_attachments;

pub(crate) use self::consoles::remote_console;
pub(crate) use self::instance_actions::{instance_action, instance_actions};
pub(crate) use self::ips::{ips, ips_network};
pub(crate) use self::metadata::{
    metadata_delete, metadata_index, metadata_merge, metadata_put, metadata_replace, metadata_show,
};
pub(crate) use self::tags::{tag_add, tag_check, tag_delete, tags, tags_delete_all, tags_replace};
pub(crate) use self::volume_attachments::{attach, attachment, attachments, detach};
use super::ctx::{Ctx, P};
use super::error::NResult;
use super::model::Server;
use super::servers::find;
use crate::pod::Pod;

/// The server named by the path's `server_id`, as the caller may see it.
fn server_of(pod: &Pod, ctx: &Ctx, p: &P) -> NResult<Server> {
    pod.compute()
        .with(|st| find(st, ctx, p.get("server_id")).cloned())
}
