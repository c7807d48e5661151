//! Appointments: the calendar event operations of apps/calendars.json (create, get, edit,
//! delete, list by time range) and the appointments of one contact.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use ghl_types::{AppointmentInput, CalendarEvent, EventType};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::contacts::{find, location};
use super::Caller;
use crate::clock::{iso_from_millis, now_iso, parse_millis};
use crate::error::{ApiError, ApiResult};
use crate::Shared;

/// Length of an appointment created without an end time.
const DEFAULT_LENGTH_MS: i64 = 30 * 60 * 1000;

pub async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Body { value: input, .. }: Body<AppointmentInput>,
) -> ApiResult<Json<CalendarEvent>> {
    caller.check_location(input.location_id.as_deref().unwrap_or_default())?;
    let contact_id = input.contact_id.clone().unwrap_or_default();
    let start = checked_time("startTime", input.start_time.as_deref())?.unwrap_or_default();
    let end =
        checked_time("endTime", input.end_time.as_deref())?.unwrap_or(start + DEFAULT_LENGTH_MS);
    if end < start {
        return Err(ApiError::bad_request("endTime must be after startTime"));
    }
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let id = world.new_id();
    let location = location(&mut world, &caller)?;
    let calendar_id = input.calendar_id.clone().unwrap_or_default();
    let calendar = location
        .calendars
        .iter()
        .find(|calendar| calendar.id == calendar_id)
        .ok_or_else(|| ApiError::not_found("Calendar", &calendar_id))?;
    let assigned = input
        .assigned_user_id
        .clone()
        .or_else(|| location.users.first().cloned())
        .unwrap_or_default();
    let now = now_iso();
    let event = CalendarEvent {
        id: id.clone(),
        title: input.title.clone().unwrap_or_else(|| "Appointment".into()),
        calendar_id,
        location_id: caller.location_id.clone(),
        contact_id: contact_id.clone(),
        group_id: calendar.group_id.clone(),
        appointment_status: input
            .appointment_status
            .map_or("confirmed", |status| status.as_str())
            .into(),
        assigned_user_id: assigned.clone(),
        users: vec![assigned],
        address: input.address.clone(),
        notes: None,
        description: input.description.clone(),
        meeting_location_type: input.meeting_location_type.map(|kind| kind.as_str().to_owned()),
        is_recurring: input.rrule.is_some(),
        rrule: input.rrule.clone(),
        start_time: iso_from_millis(start),
        end_time: iso_from_millis(end),
        date_added: now.clone(),
        date_updated: now,
        ..CalendarEvent::default()
    };
    location.appointments.insert(id.clone(), event.clone());
    location.update_contact(&contact_id, |stored| stored.appointment_ids.push(id));
    world.stats.effect("appointment.created");
    shared.webhooks.emit(EventType::AppointmentCreate, &caller.location_id, event_record(&event));
    Ok(Json(event))
}

pub async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let event = world
        .locations
        .get(&caller.location_id)
        .and_then(|location| location.appointments.get(&event_id))
        .ok_or_else(|| ApiError::not_found("Appointment", &event_id))?;
    Ok(Json(json!({ "event": event })))
}

pub async fn edit(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(event_id): Path<String>,
    Body { value: input, .. }: Body<AppointmentInput>,
) -> ApiResult<Json<CalendarEvent>> {
    let start = checked_time("startTime", input.start_time.as_deref())?;
    let end = checked_time("endTime", input.end_time.as_deref())?;
    let mut world = shared.world.lock();
    let location = location(&mut world, &caller)?;
    if let Some(calendar_id) = &input.calendar_id {
        if !location.calendars.iter().any(|calendar| &calendar.id == calendar_id) {
            return Err(ApiError::not_found("Calendar", calendar_id));
        }
    }
    let event = location
        .appointments
        .get_mut(&event_id)
        .ok_or_else(|| ApiError::not_found("Appointment", &event_id))?;
    if let Some(title) = input.title {
        event.title = title;
    }
    if let Some(status) = input.appointment_status {
        event.appointment_status = status.as_str().into();
    }
    if let Some(user) = input.assigned_user_id {
        event.assigned_user_id = user.clone();
        event.users = vec![user];
    }
    if input.address.is_some() {
        event.address = input.address;
    }
    if input.description.is_some() {
        event.description = input.description;
    }
    if let Some(kind) = input.meeting_location_type {
        event.meeting_location_type = Some(kind.as_str().into());
    }
    if input.rrule.is_some() {
        event.is_recurring = true;
        event.rrule = input.rrule;
    }
    if let Some(calendar_id) = input.calendar_id {
        event.calendar_id = calendar_id;
    }
    if let Some(start) = start {
        event.start_time = iso_from_millis(start);
    }
    if let Some(end) = end {
        event.end_time = iso_from_millis(end);
    }
    if parse_millis(&event.end_time) < parse_millis(&event.start_time) {
        return Err(ApiError::bad_request("endTime must be after startTime"));
    }
    event.date_updated = now_iso();
    let event = event.clone();
    world.stats.effect("appointment.updated");
    shared.webhooks.emit(EventType::AppointmentUpdate, &caller.location_id, event_record(&event));
    Ok(Json(event))
}

/// `DELETE /calendars/events/{eventId}` answers 201 `{succeeded: true}`, as the spec says.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(event_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let mut world = shared.world.lock();
    let location = location(&mut world, &caller)?;
    let event = location
        .appointments
        .remove(&event_id)
        .ok_or_else(|| ApiError::not_found("Appointment", &event_id))?;
    location.update_contact(&event.contact_id, |stored| {
        stored.appointment_ids.retain(|id| id != &event_id)
    });
    world.stats.effect("appointment.deleted");
    shared.webhooks.emit(EventType::AppointmentDelete, &caller.location_id, event_record(&event));
    Ok((StatusCode::CREATED, Json(json!({ "succeeded": true }))))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    location_id: Option<String>,
    user_id: Option<String>,
    calendar_id: Option<String>,
    group_id: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
}

/// `GET /calendars/events`: events whose start lies in [startTime, endTime] (epoch ms), of a
/// calendar, a user or a group. Filtering by start time is HighLevel's: an edited appointment
/// moved out of the window is not listed.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let location_id = query
        .location_id
        .as_deref()
        .ok_or_else(|| ApiError::unprocessable(vec!["locationId should not be empty".into()]))?;
    caller.check_location(location_id)?;
    let start = checked_time("startTime", query.start_time.as_deref())?
        .ok_or_else(|| ApiError::unprocessable(vec!["startTime should not be empty".into()]))?;
    let end = checked_time("endTime", query.end_time.as_deref())?
        .ok_or_else(|| ApiError::unprocessable(vec!["endTime should not be empty".into()]))?;
    if query.calendar_id.is_none() && query.user_id.is_none() && query.group_id.is_none() {
        return Err(ApiError::bad_request("Either of calendarId, userId or groupId is required"));
    }
    let world = shared.world.lock();
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let mut events: Vec<&CalendarEvent> = location
        .appointments
        .values()
        .filter(|event| query.calendar_id.as_ref().is_none_or(|id| &event.calendar_id == id))
        .filter(|event| query.group_id.as_ref().is_none_or(|id| &event.group_id == id))
        .filter(|event| query.user_id.as_ref().is_none_or(|id| event.users.contains(id)))
        .filter(|event| {
            parse_millis(&event.start_time).is_some_and(|at| (start..=end).contains(&at))
        })
        .collect();
    events.sort_by(|a, b| (&a.start_time, &a.id).cmp(&(&b.start_time, &b.id)));
    Ok(Json(json!({ "events": events })))
}

/// `GET /contacts/{contactId}/appointments`.
pub async fn of_contact(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let events: Vec<&CalendarEvent> =
        stored.appointment_ids.iter().filter_map(|id| location.appointments.get(id)).collect();
    Ok(Json(json!({ "events": events })))
}

fn checked_time(field: &str, text: Option<&str>) -> ApiResult<Option<i64>> {
    match text {
        None => Ok(None),
        Some(text) => parse_millis(text).map(Some).ok_or_else(|| {
            ApiError::unprocessable(vec![format!("{field} must be a valid ISO 8601 date string")])
        }),
    }
}

/// An appointment as the appointment webhook events carry it (inside `appointment`).
fn event_record(event: &CalendarEvent) -> Value {
    let mut record = json!({
        "id": event.id,
        "address": event.address,
        "title": event.title,
        "calendarId": event.calendar_id,
        "contactId": event.contact_id,
        "groupId": event.group_id,
        "appointmentStatus": event.appointment_status,
        "assignedUserId": event.assigned_user_id,
        "users": event.users,
        "notes": event.notes,
        "source": "api",
        "startTime": event.start_time,
        "endTime": event.end_time,
        "dateAdded": event.date_added,
        "dateUpdated": event.date_updated,
    });
    if let Value::Object(fields) = &mut record {
        fields.retain(|_, value| !value.is_null());
    }
    record
}
