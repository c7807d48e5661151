//! Contacts: get, create, update, delete, upsert, the (deprecated) list, by business and the
//! duplicate lookup, with the location's duplicate rules (email, then phone).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use ghl_types::{Contact, ContactInput, CustomFieldValue, EventType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::body::Body;
use super::Caller;
use crate::clock::{now_iso, parse_millis};
use crate::error::{ApiError, ApiResult};
use crate::world::{Location, StoredContact};
use crate::Shared;

const MAX_LIST_LIMIT: usize = 100;
const DEFAULT_LIST_LIMIT: usize = 20;

pub async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = shared.world.lock();
    let stored = find(&world, &caller, &contact_id)?;
    Ok(Json(json!({ "contact": stored.contact })))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Body<ContactInput>,
) -> ApiResult<impl IntoResponse> {
    caller.check_location(body.value.location_id.as_deref().unwrap_or_default())?;
    let mut world = shared.world.lock();
    let contact = insert_new(&shared, &mut world, &caller, &body.value)?;
    let mut created = serde_json::to_value(&contact).unwrap_or_default();
    if let Value::Object(fields) = &mut created {
        fields.insert("deleted".into(), false.into());
    }
    Ok((StatusCode::CREATED, Json(json!({ "contact": created }))))
}

/// Creates a contact unless the location's duplicate rules refuse it.
fn insert_new(
    shared: &Shared,
    world: &mut crate::world::World,
    caller: &Caller,
    input: &ContactInput,
) -> ApiResult<Contact> {
    let id = world.new_id();
    let location = location(world, caller)?;
    if !location.allow_duplicates {
        if let Some(found) = duplicate_of(location, input, None) {
            return Err(found);
        }
    }
    let now = now_iso();
    let mut contact = Contact {
        id: id.clone(),
        location_id: caller.location_id.clone(),
        date_added: Some(now.clone()),
        date_updated: Some(now),
        contact_type: Some("lead".into()),
        ..Contact::default()
    };
    apply(&mut contact, input, location)?;
    location.put_contact(StoredContact { contact: contact.clone(), ..StoredContact::default() });
    world.stats.effect("contact.created");
    shared.webhooks.emit(EventType::ContactCreate, &caller.location_id, event_record(&contact));
    Ok(contact)
}

pub async fn update(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Body<ContactInput>,
) -> ApiResult<Json<Value>> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let location = location(&mut world, &caller)?;
    if !location.allow_duplicates {
        if let Some(found) = duplicate_of(location, &body.value, Some(&contact_id)) {
            return Err(found);
        }
    }
    let contact = change_contact(location, &contact_id, &body.value)?;
    record_update(&shared, &mut world, &caller, &contact);
    Ok(Json(json!({ "succeded": true, "contact": contact.after })))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut world = shared.world.lock();
    find(&world, &caller, &contact_id)?;
    let removed = location(&mut world, &caller)?
        .remove_contact(&contact_id)
        .ok_or_else(|| ApiError::not_found("Contact", &contact_id))?;
    world.stats.effect("contact.deleted");
    shared.webhooks.emit(
        EventType::ContactDelete,
        &caller.location_id,
        event_record(&removed.contact),
    );
    Ok(Json(json!({ "succeded": true })))
}

pub async fn upsert(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Body { value: input, .. }: Body<ContactInput>,
) -> ApiResult<Json<Value>> {
    caller.check_location(input.location_id.as_deref().unwrap_or_default())?;
    let mut world = shared.world.lock();
    let trace_id = world.new_id();
    let location = location(&mut world, &caller)?;
    let force_new =
        input.create_new_if_duplicate_allowed == Some(true) && location.allow_duplicates;
    let email = flat(&input.email);
    let phone = flat(&input.phone);
    let existing =
        location.find_duplicate(email, phone, None).map(|(found, _)| found.contact.id.clone());
    match existing.filter(|_| !force_new) {
        Some(contact_id) => {
            // An email match wins: the phone of the input is not applied when it belongs to
            // another contact (HighLevel issue #37).
            let mut input = input;
            if let Some((other, _)) =
                location.find_duplicate(None, flat(&input.phone), Some(&contact_id))
            {
                if !location.allow_duplicates && other.contact.id != contact_id {
                    input.phone = None;
                }
            }
            let contact = change_contact(location, &contact_id, &input)?;
            record_update(&shared, &mut world, &caller, &contact);
            Ok(Json(json!({ "new": false, "contact": contact.after, "traceId": trace_id })))
        }
        None => {
            let contact = insert_new(&shared, &mut world, &caller, &input)?;
            Ok(Json(json!({ "new": true, "contact": contact, "traceId": trace_id })))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    location_id: Option<String>,
    start_after_id: Option<String>,
    start_after: Option<String>,
    query: Option<String>,
    limit: Option<String>,
}

/// `GET /contacts/`: keyset paging in `dateAdded` order with `startAfter` + `startAfterId`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let location_id = query
        .location_id
        .as_deref()
        .ok_or_else(|| ApiError::unprocessable(vec!["locationId should not be empty".into()]))?;
    caller.check_location(location_id)?;
    let limit = parse_limit(query.limit.as_deref(), MAX_LIST_LIMIT)?;
    let after = match (&query.start_after, &query.start_after_id) {
        (Some(millis), Some(id)) => Some((
            parse_millis(millis).ok_or_else(|| {
                ApiError::unprocessable(vec![
                    "startAfter must be a number conforming to the specified constraints".into(),
                ])
            })?,
            id.clone(),
        )),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request("startAfter and startAfterId must be sent together"))
        }
    };
    let needle = query.query.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
    let world = shared.world.lock();
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let matches = |stored: &&StoredContact| {
        needle.as_deref().is_none_or(|q| matches_query(&stored.contact, q))
    };
    let total = match &needle {
        None => location.contact_count(),
        Some(_) => location.contacts().filter(matches).count(),
    };
    // The page number of a keyset position: the matching contacts up to the cursor, in pages.
    let before = match &after {
        None => 0,
        Some(position) => location.contacts_up_to(position).filter(matches).count(),
    };
    let current_page = before / limit + 1;
    let page: Vec<&Contact> = location
        .contacts_by_date_added(after)
        .filter(matches)
        .take(limit)
        .map(|s| &s.contact)
        .collect();
    let mut meta = Map::new();
    meta.insert("total".into(), total.into());
    meta.insert("currentPage".into(), current_page.into());
    meta.insert(
        "prevPage".into(),
        if current_page > 1 { (current_page - 1).into() } else { Value::Null },
    );
    if let Some(last) = page.last().filter(|_| page.len() == limit) {
        let (millis, id) = Location::date_added_key(last);
        let mut next = format!(
            "{}/contacts/?locationId={location_id}&startAfter={millis}&startAfterId={id}&limit={limit}",
            shared.base_url
        );
        if let Some(q) = &query.query {
            next.push_str(&format!("&query={}", url_encode(q)));
        }
        meta.insert("startAfterId".into(), id.into());
        meta.insert("startAfter".into(), millis.into());
        meta.insert("nextPageUrl".into(), next.into());
        meta.insert("nextPage".into(), (current_page + 1).into());
    }
    Ok(Json(json!({ "contacts": page, "count": total, "meta": meta })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessQuery {
    location_id: Option<String>,
    limit: Option<String>,
    skip: Option<String>,
    query: Option<String>,
}

pub async fn by_business(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(business_id): Path<String>,
    Query(query): Query<BusinessQuery>,
) -> ApiResult<Json<Value>> {
    let location_id = query
        .location_id
        .as_deref()
        .ok_or_else(|| ApiError::unprocessable(vec!["locationId should not be empty".into()]))?;
    caller.check_location(location_id)?;
    let limit = parse_limit(query.limit.as_deref(), MAX_LIST_LIMIT)?;
    let skip = match query.skip.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::unprocessable(vec!["skip must not be less than 0".into()]))?,
    };
    let needle = query.query.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
    let world = shared.world.lock();
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let all: Vec<&Contact> = location
        .contacts_by_date_added(None)
        .map(|stored| &stored.contact)
        .filter(|contact| contact.business_id.as_deref() == Some(business_id.as_str()))
        .filter(|contact| needle.as_deref().is_none_or(|q| matches_query(contact, q)))
        .collect();
    let page: Vec<&Contact> = all.iter().skip(skip).take(limit).copied().collect();
    Ok(Json(json!({ "contacts": page, "count": all.len() })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateQuery {
    location_id: Option<String>,
    number: Option<String>,
    email: Option<String>,
}

/// `GET /contacts/search/duplicate`: the contact the location's duplicate rules would match.
pub async fn duplicate(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<DuplicateQuery>,
) -> ApiResult<Json<Value>> {
    let location_id = query
        .location_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("locationId is required"))?;
    caller.check_location(location_id)?;
    let world = shared.world.lock();
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let found = location.find_duplicate(query.email.as_deref(), query.number.as_deref(), None);
    Ok(Json(json!({ "contact": found.map(|(stored, _)| &stored.contact) })))
}

/// The contact, if it is the caller's; an id of another location is as unknown as no id.
pub fn find<'w>(
    world: &'w crate::world::World,
    caller: &Caller,
    contact_id: &str,
) -> ApiResult<&'w StoredContact> {
    world
        .locations
        .get(&caller.location_id)
        .and_then(|location| location.contact(contact_id))
        .ok_or_else(|| ApiError::not_found("Contact", contact_id))
}

pub fn location<'w>(
    world: &'w mut crate::world::World,
    caller: &Caller,
) -> ApiResult<&'w mut Location> {
    world.location_mut(&caller.location_id).ok_or_else(ApiError::other_location)
}

/// A contact before and after a change, and what kind of change it was.
pub struct Changed {
    pub before: Contact,
    pub after: Contact,
}

pub fn change_contact(
    location: &mut Location,
    contact_id: &str,
    input: &ContactInput,
) -> ApiResult<Changed> {
    let current = location
        .contact(contact_id)
        .ok_or_else(|| ApiError::not_found("Contact", contact_id))?
        .contact
        .clone();
    let mut after = current.clone();
    apply(&mut after, input, location)?;
    after.date_updated = Some(now_iso());
    let stored_after = after.clone();
    location.update_contact(contact_id, |stored| {
        stored.contact = stored_after;
        // Accepted and kept, but absent from every read answer, as live (issue 314).
        for (name, value) in [("keyword", &input.keyword), ("ssn", &input.ssn)] {
            match value {
                Some(Some(text)) => {
                    stored.unlisted.insert(name.into(), text.clone().into());
                }
                Some(None) => {
                    stored.unlisted.remove(name);
                }
                None => {}
            }
        }
    });
    Ok(Changed { before: current, after })
}

/// Counts the update and emits ContactUpdate, plus ContactTagUpdate / ContactDndUpdate
/// when the tags or do-not-disturb settings changed.
pub fn record_update(
    shared: &Shared,
    world: &mut crate::world::World,
    caller: &Caller,
    changed: &Changed,
) {
    world.stats.effect("contact.updated");
    let record = event_record(&changed.after);
    if changed.before.tags != changed.after.tags {
        shared.webhooks.emit(EventType::ContactTagUpdate, &caller.location_id, record.clone());
    }
    if changed.before.dnd != changed.after.dnd
        || changed.before.dnd_settings != changed.after.dnd_settings
    {
        shared.webhooks.emit(
            EventType::ContactDndUpdate,
            &caller.location_id,
            dnd_record(&changed.after),
        );
    }
    shared.webhooks.emit(EventType::ContactUpdate, &caller.location_id, record);
}

fn duplicate_of(
    location: &Location,
    input: &ContactInput,
    except: Option<&str>,
) -> Option<ApiError> {
    let (found, matched) =
        location.find_duplicate(flat(&input.email), flat(&input.phone), except)?;
    Some(ApiError::bad_request("This location does not allow duplicated contacts.").with_meta(
        json!({
            "contactId": found.contact.id,
            "contactName": found.contact.name.clone().unwrap_or_default(),
            "matchingField": matched.as_str(),
        }),
    ))
}

fn flat(field: &Option<Option<String>>) -> Option<&str> {
    field.as_ref().and_then(|value| value.as_deref())
}

/// Applies the fields an input carries (`null` clears) and recomputes the derived fields.
pub fn apply(contact: &mut Contact, input: &ContactInput, location: &Location) -> ApiResult<()> {
    fn set(target: &mut Option<String>, value: &Option<Option<String>>) {
        if let Some(value) = value {
            *target = value.clone().filter(|text| !text.is_empty());
        }
    }
    set(&mut contact.first_name, &input.first_name);
    set(&mut contact.last_name, &input.last_name);
    set(&mut contact.name, &input.name);
    set(&mut contact.email, &input.email);
    set(&mut contact.phone, &input.phone);
    set(&mut contact.address1, &input.address1);
    set(&mut contact.city, &input.city);
    set(&mut contact.state, &input.state);
    set(&mut contact.website, &input.website);
    set(&mut contact.timezone, &input.timezone);
    set(&mut contact.source, &input.source);
    set(&mut contact.company_name, &input.company_name);
    set(&mut contact.assigned_to, &input.assigned_to);
    set(&mut contact.contact_type, &input.contact_type);
    if let Some(postal_code) = &input.postal_code {
        contact.postal_code = Some(postal_code.clone());
    }
    if let Some(country) = &input.country {
        contact.country = Some(country.clone());
    }
    if let Some(gender) = &input.gender {
        contact.extra.insert("gender".into(), gender.clone().into());
    }
    if let Some(dnd) = input.dnd {
        contact.dnd = dnd;
    }
    if let Some(settings) = &input.dnd_settings {
        contact.dnd_settings = Some(settings.clone());
    }
    if let Some(settings) = &input.inbound_dnd_settings {
        contact.extra.insert("inboundDndSettings".into(), settings.clone());
    }
    if let Some(tags) = &input.tags {
        contact.tags = normalize_tags(tags);
    }
    if let Some(date_of_birth) = &input.date_of_birth {
        contact.date_of_birth = date_of_birth.as_ref().map(date_of_birth_text).transpose()?;
    }
    if let Some(fields) = &input.custom_fields {
        for (index, field) in fields.iter().enumerate() {
            if field.id.is_none() && field.key.is_none() {
                return Err(ApiError::unprocessable(vec![format!(
                    "customFields.{index}.id should not be empty"
                )]));
            }
            let definition = location
                .custom_fields
                .iter()
                .find(|def| {
                    Some(&def.id) == field.id.as_ref() || Some(&def.key) == field.key.as_ref()
                })
                .ok_or_else(|| {
                    let named =
                        field.id.as_ref().or(field.key.as_ref()).cloned().unwrap_or_default();
                    ApiError::unprocessable(vec![format!(
                        "customFields.{index}: no custom field {named} in this location"
                    )])
                })?;
            // No value: the field is named but left as it is; `null` clears it.
            let Some(value) = &field.field_value else { continue };
            contact.custom_fields.retain(|stored| stored.id != definition.id);
            if !value.is_null() {
                contact.custom_fields.push(CustomFieldValue {
                    id: definition.id.clone(),
                    value: custom_field_text(value).into(),
                });
            }
        }
    }
    if input.first_name.is_some() || input.last_name.is_some() {
        let full = [contact.first_name.as_deref(), contact.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        contact.name = Some(full).filter(|name| !name.is_empty());
    }
    if contact.email.as_deref().is_some_and(|email| !email.contains('@')) {
        return Err(ApiError::unprocessable(vec!["email must be an email".into()]));
    }
    contact.email_lower_case = contact.email.as_deref().map(str::to_lowercase);
    contact.first_name_lower_case = contact.first_name.as_deref().map(str::to_lowercase);
    contact.last_name_lower_case = contact.last_name.as_deref().map(str::to_lowercase);
    contact.full_name_lower_case = contact.name.as_deref().map(str::to_lowercase);
    Ok(())
}

/// The spec's CustomFieldSchema types a custom field's `value` as a string, whatever was
/// written: numbers and booleans read back as their text, arrays and objects as JSON text
/// (docs/spec-choices.md).
pub fn custom_field_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// HighLevel stores tags lower-cased and trimmed, each once.
pub fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut normalized: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags.iter().map(|tag| tag.trim().to_lowercase()).filter(|tag| !tag.is_empty()) {
        if !normalized.contains(&tag) {
            normalized.push(tag);
        }
    }
    normalized
}

/// The spec's formats: YYYY/MM/DD, MM/DD/YYYY, YYYY-MM-DD, MM-DD-YYYY, YYYY.MM.DD, MM.DD.YYYY,
/// YYYY_MM_DD, MM_DD_YYYY (and an ISO time after the date).
fn date_of_birth_text(value: &Value) -> ApiResult<String> {
    let invalid = || ApiError::unprocessable(vec!["dateOfBirth must be a valid date".into()]);
    let text = value.as_str().ok_or_else(invalid)?;
    let day = text.get(..10).unwrap_or(text).replace(['/', '.', '_'], "-");
    let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(&day, "%m-%d-%Y"))
        .map_err(|_| invalid())?;
    Ok(format!("{date}T00:00:00.000Z"))
}

/// `limit` as class-validator checks it (`@IsNumber() @Min(1) @Max(max)`), in its words.
fn parse_limit(limit: Option<&str>, max: usize) -> ApiResult<usize> {
    let Some(text) = limit else { return Ok(DEFAULT_LIST_LIMIT.min(max)) };
    match text.parse::<i64>() {
        Ok(limit) if limit < 1 => {
            Err(ApiError::unprocessable(vec!["limit must not be less than 1".into()]))
        }
        Ok(limit) => match usize::try_from(limit) {
            Ok(limit) if limit <= max => Ok(limit),
            _ => {
                Err(ApiError::unprocessable(vec![format!("limit must not be greater than {max}")]))
            }
        },
        Err(_) => Err(ApiError::unprocessable(vec![
            "limit must be a number conforming to the specified constraints".into(),
        ])),
    }
}

/// The free-text `query` of list and search: name, email, phone or company contains it.
pub fn matches_query(contact: &Contact, needle: &str) -> bool {
    [&contact.name, &contact.email, &contact.phone, &contact.company_name]
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(needle))
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A contact as the contact webhook events carry it (docs/webhook-events/ContactCreate.md).
pub fn event_record(contact: &Contact) -> Value {
    let mut record = json!({
        "id": contact.id,
        "address1": contact.address1,
        "city": contact.city,
        "companyName": contact.company_name,
        "country": contact.country,
        "source": contact.source,
        "dateAdded": contact.date_added,
        "dateOfBirth": contact.date_of_birth,
        "dnd": contact.dnd,
        "email": contact.email,
        "name": contact.name,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "phone": contact.phone,
        "postalCode": contact.postal_code,
        "state": contact.state,
        "tags": contact.tags,
        "website": contact.website,
        "attachments": [],
        "assignedTo": contact.assigned_to,
        "customFields": contact.custom_fields,
    });
    if let Value::Object(fields) = &mut record {
        fields.retain(|_, value| !value.is_null());
    }
    record
}

fn dnd_record(contact: &Contact) -> Value {
    let mut record = event_record(contact);
    if let (Value::Object(fields), Some(settings)) = (&mut record, &contact.dnd_settings) {
        fields.insert("dndSettings".into(), serde_json::to_value(settings).unwrap_or_default());
    }
    record
}
