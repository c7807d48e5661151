//! What hangs on a contact besides records: tags, followers, campaigns, workflows, and the
//! bulk tag and business operations.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::contacts::{change_contact, find, location, normalize_tags, record_update};
use super::Caller;
use crate::error::{ApiError, ApiResult};
use crate::Shared;

#[derive(Debug, Deserialize)]
pub struct TagsBody {
    tags: Vec<String>,
}

pub async fn add_tags(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value, .. }: Body<TagsBody>,
) -> ApiResult<impl IntoResponse> {
    let tags = retag(&shared, &caller, &contact_id, |tags| tags.extend(value.tags))?;
    Ok((StatusCode::CREATED, Json(json!({ "tags": tags }))))
}

pub async fn remove_tags(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value, .. }: Body<TagsBody>,
) -> ApiResult<Json<Value>> {
    let removed = normalize_tags(&value.tags);
    let tags =
        retag(&shared, &caller, &contact_id, |tags| tags.retain(|tag| !removed.contains(tag)))?;
    Ok(Json(json!({ "tags": tags })))
}

/// Changes a contact's tags; an unchanged list changes nothing and emits nothing.
fn retag(
    shared: &Shared,
    caller: &Caller,
    contact_id: &str,
    change: impl FnOnce(&mut Vec<String>),
) -> ApiResult<Vec<String>> {
    let mut world = shared.world.lock();
    let mut tags = find(&world, caller, contact_id)?.contact.tags.clone();
    let before = tags.clone();
    change(&mut tags);
    let tags = normalize_tags(&tags);
    if tags == before {
        return Ok(tags);
    }
    let input = ghl_types::ContactInput { tags: Some(tags.clone()), ..Default::default() };
    let changed = change_contact(location(&mut world, caller)?, contact_id, &input)?;
    record_update(shared, &mut world, caller, &changed);
    Ok(tags)
}

#[derive(Debug, Deserialize)]
pub struct FollowersBody {
    followers: Vec<String>,
}

pub async fn add_followers(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value, .. }: Body<FollowersBody>,
) -> ApiResult<impl IntoResponse> {
    let (followers, added) = refollow(&shared, &caller, &contact_id, |followers| {
        let mut added = Vec::new();
        for follower in value.followers {
            if !followers.contains(&follower) {
                followers.push(follower.clone());
                added.push(follower);
            }
        }
        added
    })?;
    Ok((StatusCode::CREATED, Json(json!({ "followers": followers, "followersAdded": added }))))
}

pub async fn remove_followers(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value, .. }: Body<FollowersBody>,
) -> ApiResult<Json<Value>> {
    let (followers, removed) = refollow(&shared, &caller, &contact_id, |followers| {
        let removed: Vec<String> =
            value.followers.into_iter().filter(|follower| followers.contains(follower)).collect();
        followers.retain(|follower| !removed.contains(follower));
        removed
    })?;
    Ok(Json(json!({ "followers": followers, "followersRemoved": removed })))
}

fn refollow(
    shared: &Shared,
    caller: &Caller,
    contact_id: &str,
    change: impl FnOnce(&mut Vec<String>) -> Vec<String>,
) -> ApiResult<(Vec<String>, Vec<String>)> {
    let mut world = shared.world.lock();
    find(&world, caller, contact_id)?;
    let (followers, changed) = location(&mut world, caller)?
        .update_contact(contact_id, |stored| {
            let changed = change(&mut stored.contact.followers);
            (stored.contact.followers.clone(), changed)
        })
        .ok_or_else(|| ApiError::not_found("Contact", contact_id))?;
    if !changed.is_empty() {
        world.stats.effect("contact.followers_changed");
    }
    Ok((followers, changed))
}

pub async fn add_campaign(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, campaign_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    enrol(
        &shared,
        &caller,
        &contact_id,
        Enrolment::Campaign,
        |set| {
            set.insert(campaign_id.clone());
        },
        Some(&campaign_id),
    )?;
    Ok((StatusCode::CREATED, Json(json!({ "succeded": true }))))
}

pub async fn remove_campaign(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, campaign_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    enrol(
        &shared,
        &caller,
        &contact_id,
        Enrolment::Campaign,
        |set| {
            set.remove(&campaign_id);
        },
        Some(&campaign_id),
    )?;
    Ok(Json(json!({ "succeded": true })))
}

pub async fn remove_all_campaigns(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    enrol(&shared, &caller, &contact_id, Enrolment::Campaign, |set| set.clear(), None)?;
    Ok(Json(json!({ "succeded": true })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowBody {
    event_start_time: Option<String>,
}

pub async fn add_workflow(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, workflow_id)): Path<(String, String)>,
    Body { value, .. }: Body<WorkflowBody>,
) -> ApiResult<Json<Value>> {
    check_event_start_time(value.event_start_time.as_deref())?;
    enrol(
        &shared,
        &caller,
        &contact_id,
        Enrolment::Workflow,
        |set| {
            set.insert(workflow_id.clone());
        },
        Some(&workflow_id),
    )?;
    Ok(Json(json!({ "succeded": true })))
}

pub async fn remove_workflow(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, workflow_id)): Path<(String, String)>,
    Body { value, .. }: Body<WorkflowBody>,
) -> ApiResult<Json<Value>> {
    check_event_start_time(value.event_start_time.as_deref())?;
    enrol(
        &shared,
        &caller,
        &contact_id,
        Enrolment::Workflow,
        |set| {
            set.remove(&workflow_id);
        },
        Some(&workflow_id),
    )?;
    Ok(Json(json!({ "succeded": true })))
}

fn check_event_start_time(time: Option<&str>) -> ApiResult<()> {
    match time {
        Some(text) if crate::clock::parse_millis(text).is_none() => {
            Err(ApiError::unprocessable(vec![
                "eventStartTime must be a valid ISO 8601 date string".into(),
            ]))
        }
        _ => Ok(()),
    }
}

#[derive(Clone, Copy)]
enum Enrolment {
    Campaign,
    Workflow,
}

/// Changes a contact's campaigns or workflows; the id named must exist in the location.
fn enrol(
    shared: &Shared,
    caller: &Caller,
    contact_id: &str,
    kind: Enrolment,
    change: impl FnOnce(&mut std::collections::BTreeSet<String>),
    named: Option<&str>,
) -> ApiResult<()> {
    let mut world = shared.world.lock();
    find(&world, caller, contact_id)?;
    let location = location(&mut world, caller)?;
    let (known, label) = match kind {
        Enrolment::Campaign => (&location.campaigns, "Campaign"),
        Enrolment::Workflow => (&location.workflows, "Workflow"),
    };
    if let Some(id) = named.filter(|id| !known.iter().any(|known| known == id)) {
        return Err(ApiError::not_found(label, id));
    }
    location.update_contact(contact_id, |stored| match kind {
        Enrolment::Campaign => change(&mut stored.campaigns),
        Enrolment::Workflow => change(&mut stored.workflows),
    });
    world.stats.effect(match kind {
        Enrolment::Campaign => "contact.campaigns_changed",
        Enrolment::Workflow => "contact.workflows_changed",
    });
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTagsBody {
    contacts: Vec<String>,
    tags: Vec<String>,
    location_id: String,
    remove_all_tags: Option<bool>,
}

/// `POST /contacts/bulk/tags/update/{type}` with type `add` or `remove`.
pub async fn bulk_tags(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(kind): Path<String>,
    Body { value, .. }: Body<BulkTagsBody>,
) -> ApiResult<impl IntoResponse> {
    caller.check_location(&value.location_id)?;
    let adding = match kind.as_str() {
        "add" => true,
        "remove" => false,
        other => {
            return Err(ApiError::unprocessable(vec![format!(
                "type must be one of the following values: add, remove (got {other})"
            )]))
        }
    };
    let tags = normalize_tags(&value.tags);
    let remove_all = value.remove_all_tags == Some(true);
    let mut responses = Vec::new();
    let mut errors = 0;
    for contact_id in &value.contacts {
        let outcome = retag(&shared, &caller, contact_id, |current| {
            if adding {
                current.extend(tags.iter().cloned());
            } else if remove_all {
                current.clear();
            } else {
                current.retain(|tag| !tags.contains(tag));
            }
        });
        match outcome {
            Ok(_) => responses.push(format!("{contact_id}: updated")),
            Err(err) => {
                errors += 1;
                responses.push(format!("{contact_id}: {}", err.message.text()));
            }
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "succeded": errors == 0, "errorCount": errors, "responses": responses })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkBusinessBody {
    location_id: String,
    ids: Vec<String>,
    business_id: Option<String>,
}

/// `POST /contacts/bulk/business`: set (or, with `null`, clear) the business of contacts.
pub async fn bulk_business(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Body { value, .. }: Body<BulkBusinessBody>,
) -> ApiResult<Json<Value>> {
    caller.check_location(&value.location_id)?;
    let mut world = shared.world.lock();
    if let Some(missing) = value.ids.iter().find(|id| find(&world, &caller, id).is_err()) {
        return Err(ApiError::unprocessable(vec![format!("Contact with id {missing} not found")]));
    }
    let location = location(&mut world, &caller)?;
    let mut changed = Vec::new();
    for id in &value.ids {
        let business_id = value.business_id.clone();
        let now = crate::clock::now_iso();
        if let Some(before) = location.update_contact(id, |stored| {
            let before = stored.contact.clone();
            stored.contact.business_id = business_id;
            stored.contact.date_updated = Some(now);
            (before, stored.contact.clone())
        }) {
            changed.push(before);
        }
    }
    for (before, after) in changed {
        let changed = super::contacts::Changed { before, after };
        record_update(&shared, &mut world, &caller, &changed);
    }
    Ok(Json(json!({ "success": true, "ids": value.ids })))
}
