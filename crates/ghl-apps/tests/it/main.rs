//! ghl-apps integration tests: the shipped manifests, refused manifests, and the webhook
//! signature schemes against the published vectors.

mod broken_manifests;
mod every_kind;
mod expression_params;
mod highlevel_fits;
mod shipped_manifests;
mod standard_webhooks;
