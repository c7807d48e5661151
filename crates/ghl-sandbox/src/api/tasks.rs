//! Tasks of a contact: list, create, get, update, delete, and mark completed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use ghl_types::{EventType, Task, TaskInput};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::contacts::{find, location};
use super::Caller;
use crate::clock::{now_iso, parse_millis};
use crate::error::{ApiError, ApiResult};
use crate::Shared;

pub async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    Ok(Json(json!({ "tasks": stored.tasks })))
}

pub async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    let task = stored
        .tasks
        .iter()
        .find(|task| task.id == task_id)
        .ok_or_else(|| ApiError::not_found("Task", &task_id))?;
    Ok(Json(json!({ "task": task })))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    Body { value: input, .. }: Body<TaskInput>,
) -> ApiResult<impl IntoResponse> {
    let due_date = checked_due_date(input.due_date.as_deref())?.unwrap_or_default();
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let mut task = Task {
        id: world.new_id(),
        title: input.title.unwrap_or_default(),
        body: input.body,
        assigned_to: input.assigned_to,
        due_date,
        completed: input.completed.unwrap_or(false),
        contact_id: contact_id.clone(),
        ..Task::default()
    };
    task.extra.insert("dateAdded".into(), now_iso().into());
    location(&mut world, &caller)?
        .update_contact(&contact_id, |stored| stored.tasks.push(task.clone()));
    world.stats.effect("task.created");
    shared.webhooks.emit(EventType::TaskCreate, &caller.location_id, event_record(&task));
    Ok((StatusCode::CREATED, Json(json!({ "task": task }))))
}

pub async fn update(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    Body { value: input, .. }: Body<TaskInput>,
) -> ApiResult<Json<Value>> {
    let due_date = checked_due_date(input.due_date.as_deref())?;
    let task = change_task(&shared, &caller, &contact_id, &task_id, |task| {
        if let Some(title) = input.title {
            task.title = title;
        }
        if input.body.is_some() {
            task.body = input.body;
        }
        if let Some(due_date) = due_date {
            task.due_date = due_date;
        }
        if let Some(completed) = input.completed {
            task.completed = completed;
        }
        if input.assigned_to.is_some() {
            task.assigned_to = input.assigned_to;
        }
    })?;
    Ok(Json(json!({ "task": task })))
}

#[derive(Debug, Deserialize)]
pub struct CompletedBody {
    completed: bool,
}

pub async fn completed(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
    Body { value: input, .. }: Body<CompletedBody>,
) -> ApiResult<Json<Value>> {
    let task = change_task(&shared, &caller, &contact_id, &task_id, |task| {
        task.completed = input.completed
    })?;
    Ok(Json(json!({ "task": task })))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let removed = location(&mut world, &caller)?
        .update_contact(&contact_id, |stored| {
            let index = stored.tasks.iter().position(|task| task.id == task_id)?;
            Some(stored.tasks.remove(index))
        })
        .flatten()
        .ok_or_else(|| ApiError::not_found("Task", &task_id))?;
    world.stats.effect("task.deleted");
    shared.webhooks.emit(EventType::TaskDelete, &caller.location_id, event_record(&removed));
    Ok(Json(json!({ "succeded": true })))
}

/// Changes one task; a task that becomes completed emits TaskComplete (HighLevel has no
/// TaskUpdate event).
fn change_task(
    shared: &Shared,
    caller: &Caller,
    contact_id: &str,
    task_id: &str,
    change: impl FnOnce(&mut Task),
) -> ApiResult<Task> {
    let mut world = shared.world.lock();
    find(&world, caller, contact_id)?;
    let (before, after) = location(&mut world, caller)?
        .update_contact(contact_id, |stored| {
            let task = stored.tasks.iter_mut().find(|task| task.id == task_id)?;
            let before = task.clone();
            change(task);
            Some((before, task.clone()))
        })
        .flatten()
        .ok_or_else(|| ApiError::not_found("Task", task_id))?;
    world.stats.effect("task.updated");
    if after.completed && !before.completed {
        world.stats.effect("task.completed");
        shared.webhooks.emit(EventType::TaskComplete, &caller.location_id, event_record(&after));
    }
    Ok(after)
}

fn checked_due_date(due_date: Option<&str>) -> ApiResult<Option<String>> {
    match due_date {
        None => Ok(None),
        Some(text) if parse_millis(text).is_some() => Ok(Some(text.to_owned())),
        Some(_) => {
            Err(ApiError::unprocessable(
                vec!["dueDate must be a valid ISO 8601 date string".into()],
            ))
        }
    }
}

/// A task as the task webhook events carry it (docs/webhook-events/TaskCreate.md).
fn event_record(task: &Task) -> Value {
    let mut record = json!({
        "id": task.id,
        "assignedTo": task.assigned_to,
        "body": task.body,
        "contactId": task.contact_id,
        "title": task.title,
        "dateAdded": task.extra.get("dateAdded"),
        "dueDate": task.due_date,
        "completed": task.completed,
    });
    if let Value::Object(fields) = &mut record {
        fields.retain(|_, value| !value.is_null());
    }
    record
}
