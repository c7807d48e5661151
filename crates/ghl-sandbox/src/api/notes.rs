//! Notes of a contact: list, create, get, update, delete.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use ghl_types::{EventType, Note, NoteInput};
use serde_json::{json, Value};

use super::body::Body;
use super::contacts::{find, location};
use super::Caller;
use crate::clock::now_iso;
use crate::error::{ApiError, ApiResult};
use crate::Shared;

pub async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    Ok(Json(json!({ "notes": stored.notes })))
}

pub async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, note_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    let note = stored
        .notes
        .iter()
        .find(|note| note.id == note_id)
        .ok_or_else(|| ApiError::not_found("Note", &note_id))?;
    Ok(Json(json!({ "note": note })))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value: input, .. }: Body<NoteInput>,
) -> ApiResult<impl IntoResponse> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let note = Note {
        id: world.new_id(),
        body: input.body.unwrap_or_default(),
        user_id: input.user_id,
        date_added: now_iso(),
        contact_id: contact_id.clone(),
        title: input.title,
        color: input.color,
        pinned: input.pinned,
        ..Note::default()
    };
    location(&mut world, &caller)?
        .update_contact(&contact_id, |stored| stored.notes.push(note.clone()));
    world.stats.effect("note.created");
    shared.webhooks.emit(EventType::NoteCreate, &caller.location_id, event_record(&note));
    Ok((StatusCode::CREATED, Json(json!({ "note": note }))))
}

pub async fn update(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, note_id)): Path<(String, String)>,
    Body { value: input, .. }: Body<NoteInput>,
) -> ApiResult<Json<Value>> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let note = location(&mut world, &caller)?
        .update_contact(&contact_id, |stored| {
            let note = stored.notes.iter_mut().find(|note| note.id == note_id)?;
            if let Some(body) = input.body {
                note.body = body;
            }
            if input.user_id.is_some() {
                note.user_id = input.user_id;
            }
            if input.title.is_some() {
                note.title = input.title;
            }
            if input.color.is_some() {
                note.color = input.color;
            }
            if input.pinned.is_some() {
                note.pinned = input.pinned;
            }
            Some(note.clone())
        })
        .flatten()
        .ok_or_else(|| ApiError::not_found("Note", &note_id))?;
    world.stats.effect("note.updated");
    shared.webhooks.emit(EventType::NoteUpdate, &caller.location_id, event_record(&note));
    Ok(Json(json!({ "note": note })))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, note_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let removed = location(&mut world, &caller)?
        .update_contact(&contact_id, |stored| {
            let index = stored.notes.iter().position(|note| note.id == note_id)?;
            Some(stored.notes.remove(index))
        })
        .flatten()
        .ok_or_else(|| ApiError::not_found("Note", &note_id))?;
    world.stats.effect("note.deleted");
    shared.webhooks.emit(EventType::NoteDelete, &caller.location_id, event_record(&removed));
    Ok(Json(json!({ "succeded": true })))
}

/// A note as the note webhook events carry it (docs/webhook-events/NoteCreate.md).
fn event_record(note: &Note) -> Value {
    json!({
        "id": note.id,
        "body": note.body,
        "contactId": note.contact_id,
        "dateAdded": note.date_added,
    })
}
