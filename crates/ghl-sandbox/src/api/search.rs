//! `POST /contacts/search`: filters (and AND/OR groups), sort, `page` paging up to 10,000
//! records and `searchAfter` keyset paging, the cursor carried on every returned contact.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use ghl_types::search::{
    FilterOperator, GroupKind, SearchBody, SearchFilter, SearchSort, SortDirection,
    MAX_PAGED_RECORDS, MAX_PAGE_LIMIT, MAX_QUERY_CHARS,
};
use ghl_types::Contact;
use serde_json::{json, Value};

use super::body::Body;
use super::contacts::matches_query;
use super::Caller;
use crate::clock::parse_millis;
use crate::error::{ApiError, ApiResult};
use crate::Shared;

pub async fn search(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Body { value: body, .. }: Body<SearchBody>,
) -> ApiResult<Json<Value>> {
    caller.check_location(&body.location_id)?;
    check(&body)?;
    let sort = if body.sort.is_empty() {
        vec![SearchSort { field: "dateAdded".into(), direction: SortDirection::Desc }]
    } else {
        body.sort.clone()
    };
    let needle = body.query.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
    let world = shared.world.lock();
    let location = world.locations.get(&caller.location_id).ok_or_else(ApiError::other_location)?;
    let mut matches: Vec<(Vec<Value>, &Contact)> = location
        .contacts()
        .map(|stored| &stored.contact)
        .filter(|contact| needle.as_deref().is_none_or(|needle| matches_query(contact, needle)))
        .filter(|contact| body.filters.iter().all(|filter| matches(contact, filter)))
        .map(|contact| {
            let mut key: Vec<Value> =
                sort.iter().map(|s| field(contact, &s.field).unwrap_or(Value::Null)).collect();
            key.push(contact.id.clone().into());
            (key, contact)
        })
        .collect();
    let total = matches.len();
    type Match<'c> = (Vec<Value>, &'c Contact);
    let compare = |a: &Match, b: &Match| compare_keys(&a.0, &b.0, &sort);
    let start = match (&body.search_after, body.page) {
        (Some(after), _) => {
            matches.retain(|(key, _)| compare_keys(key, after, &sort) == Ordering::Greater);
            0
        }
        (None, Some(page)) => (page.max(1) as usize - 1) * body.page_limit as usize,
        (None, None) => 0,
    };
    // Only the records up to the end of this page need ordering.
    let end = start + body.page_limit as usize;
    if matches.len() > end {
        matches.select_nth_unstable_by(end - 1, compare);
        matches.truncate(end);
    }
    matches.sort_by(compare);
    let contacts: Vec<Value> = matches
        .into_iter()
        .skip(start)
        .map(|(key, contact)| {
            let mut value = serde_json::to_value(contact).unwrap_or_default();
            if let Value::Object(fields) = &mut value {
                fields.insert("searchAfter".into(), Value::Array(key));
            }
            value
        })
        .collect();
    Ok(Json(json!({ "contacts": contacts, "total": total })))
}

fn check(body: &SearchBody) -> ApiResult<()> {
    let mut problems = Vec::new();
    if body.page_limit == 0 {
        problems.push("pageLimit must not be less than 1".into());
    }
    if body.page_limit > MAX_PAGE_LIMIT {
        problems.push(format!("pageLimit must not be greater than {MAX_PAGE_LIMIT}"));
    }
    if body.query.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        problems
            .push(format!("query must be shorter than or equal to {MAX_QUERY_CHARS} characters"));
    }
    if body.page.is_some() && body.search_after.is_some() {
        problems.push("page and searchAfter cannot be used together".into());
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(problems));
    }
    if let Some(page) = body.page {
        if u64::from(page.max(1)) * u64::from(body.page_limit) > MAX_PAGED_RECORDS {
            return Err(ApiError::bad_request(format!(
                "page and pageLimit can reach at most {MAX_PAGED_RECORDS} records; use searchAfter to page further"
            )));
        }
    }
    Ok(())
}

/// A field of a contact by its search name (`email`, `tags`, `customFields.<id>`, or a dotted
/// path such as `dndSettings.Email.status`), without serialising the whole contact.
fn field(contact: &Contact, name: &str) -> Option<Value> {
    let text = |value: &Option<String>| value.clone().map(Value::String);
    let custom = name.strip_prefix("customFields.").or_else(|| name.strip_prefix("customField."));
    if let Some(id) = custom {
        let found = contact.custom_fields.iter().find(|field| field.id == id);
        return found.map(|field| field.value.clone());
    }
    match name {
        "id" => Some(contact.id.clone().into()),
        "locationId" => Some(contact.location_id.clone().into()),
        "name" | "contactName" => text(&contact.name),
        "firstName" => text(&contact.first_name),
        "lastName" => text(&contact.last_name),
        "firstNameLowerCase" => text(&contact.first_name_lower_case),
        "lastNameLowerCase" => text(&contact.last_name_lower_case),
        "fullNameLowerCase" => text(&contact.full_name_lower_case),
        "email" => text(&contact.email),
        "emailLowerCase" => text(&contact.email_lower_case),
        "phone" => text(&contact.phone),
        "companyName" => text(&contact.company_name),
        "type" => text(&contact.contact_type),
        "source" => text(&contact.source),
        "assignedTo" => text(&contact.assigned_to),
        "address1" => text(&contact.address1),
        "city" => text(&contact.city),
        "state" => text(&contact.state),
        "country" => text(&contact.country),
        "postalCode" => text(&contact.postal_code),
        "website" => text(&contact.website),
        "timezone" => text(&contact.timezone),
        "dateOfBirth" => text(&contact.date_of_birth),
        "dateAdded" => text(&contact.date_added),
        "dateUpdated" => text(&contact.date_updated),
        "businessId" => text(&contact.business_id),
        "dnd" => Some(contact.dnd.into()),
        "tags" => Some(contact.tags.clone().into()),
        "followers" => Some(contact.followers.clone().into()),
        path => {
            let whole = serde_json::to_value(contact).ok()?;
            path.split('.').try_fold(&whole, |value, part| value.get(part)).cloned()
        }
    }
}

fn matches(contact: &Contact, filter: &SearchFilter) -> bool {
    match filter {
        SearchFilter::Group { group: GroupKind::And, filters } => {
            filters.iter().all(|f| matches(contact, f))
        }
        SearchFilter::Group { group: GroupKind::Or, filters } => {
            filters.iter().any(|f| matches(contact, f))
        }
        SearchFilter::Condition { field: name, operator, value } => {
            let actual = field(contact, name).filter(|value| !is_empty(value));
            let actual = actual.as_ref();
            let wanted = value.as_ref().unwrap_or(&Value::Null);
            let equal = || actual.is_some_and(|actual| any_of(wanted, |w| equals(actual, w)));
            let contain = || actual.is_some_and(|actual| any_of(wanted, |w| contains(actual, w)));
            match operator {
                FilterOperator::Exists => actual.is_some(),
                FilterOperator::NotExists => actual.is_none(),
                FilterOperator::Eq => equal(),
                FilterOperator::NotEq => !equal(),
                FilterOperator::Contains => contain(),
                FilterOperator::NotContains => !contain(),
                FilterOperator::Range => actual.is_some_and(|actual| in_range(actual, wanted)),
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A filter value that is an array matches when any of its items does.
fn any_of(wanted: &Value, test: impl Fn(&Value) -> bool) -> bool {
    match wanted {
        Value::Array(items) => items.iter().any(test),
        single => test(single),
    }
}

/// Strings compare without case; an array field equals a value when one of its items does.
fn equals(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Array(items), _) => items.iter().any(|item| equals(item, wanted)),
        (Value::String(a), Value::String(w)) => a.to_lowercase() == w.to_lowercase(),
        (Value::Number(a), Value::Number(w)) => a.as_f64() == w.as_f64(),
        (a, w) => a == w,
    }
}

fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Array(items), _) => items.iter().any(|item| contains(item, wanted)),
        (Value::String(a), Value::String(w)) => a.to_lowercase().contains(&w.to_lowercase()),
        _ => false,
    }
}

/// `{gte, lte, gt, lt}` over numbers, or over dates given as ISO-8601 or epoch milliseconds.
fn in_range(actual: &Value, bounds: &Value) -> bool {
    let Some(actual) = as_number(actual) else {
        return false;
    };
    let bound = |key: &str| bounds.get(key).and_then(as_number);
    bound("gte").is_none_or(|b| actual >= b)
        && bound("gt").is_none_or(|b| actual > b)
        && bound("lte").is_none_or(|b| actual <= b)
        && bound("lt").is_none_or(|b| actual < b)
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => parse_millis(text).map(|millis| millis as f64),
        _ => None,
    }
}

/// Orders sort keys field by field (missing values last), then by id ascending.
fn compare_keys(a: &[Value], b: &[Value], sort: &[SearchSort]) -> Ordering {
    for (index, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let natural = compare_values(x, y);
                match sort.get(index).map(|s| s.direction) {
                    Some(SortDirection::Desc) => natural.reverse(),
                    _ => natural,
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// Natural order of two values; strings without case (then with, so the order is total).
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => {
            let folded = |text: &str| text.chars().flat_map(char::to_lowercase).collect::<String>();
            let without_case = if x.is_ascii() && y.is_ascii() {
                let lower = |b: u8| b.to_ascii_lowercase();
                x.bytes().map(lower).cmp(y.bytes().map(lower))
            } else {
                folded(x).cmp(&folded(y))
            };
            without_case.then_with(|| x.cmp(y))
        }
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}
