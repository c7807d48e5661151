//! The deterministic seed-data generator: realistic contacts with tags, custom fields, tasks,
//! notes and appointments. The same seed gives the same data; 100k contacts take well under
//! a second in a release build.

use chrono::{TimeZone, Utc};
use ghl_types::{CalendarEvent, Contact, CustomFieldValue, Note, Task};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::clock::{iso, new_id, new_secret};
use crate::world::{Calendar, CustomFieldDefinition, Location, StoredContact, World};

const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Mia",
    "James",
    "Isabella",
    "William",
    "Ava",
    "Lucas",
    "Charlotte",
    "Mateo",
    "Harper",
    "Benjamin",
    "Aisha",
    "Kenji",
    "Priya",
    "Diego",
    "Fatima",
    "Jonas",
    "Ingrid",
    "Chidi",
    "Mei",
    "Rafael",
    "Leila",
    "Tomasz",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Okafor",
    "Tanaka",
    "Kowalski",
    "Haddad",
    "Nielsen",
    "Rossi",
    "Dubois",
    "Schmidt",
    "Patel",
    "Nguyen",
    "Silva",
    "Cohen",
    "Murphy",
];
const COMPANIES: &[&str] = &[
    "Acme Realty",
    "Blue Harbor Homes",
    "Northwind Dental",
    "Summit Legal",
    "Greenleaf Landscaping",
    "Brightside Fitness",
    "Copperline Plumbing",
    "Harbor View Clinic",
    "Maple & Co",
    "Redwood Roofing",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Austin", "TX", "US"),
    ("Denver", "CO", "US"),
    ("Miami", "FL", "US"),
    ("Seattle", "WA", "US"),
    ("Toronto", "ON", "CA"),
    ("London", "ENG", "GB"),
    ("Dublin", "L", "IE"),
    ("Sydney", "NSW", "AU"),
];
const TAGS: &[&str] =
    &["lead", "customer", "vip", "newsletter", "buyer", "seller", "referral", "cold", "webinar"];
const SOURCES: &[&str] = &["website form", "facebook ad", "referral", "import", "booking widget"];
const TASK_TITLES: &[&str] = &[
    "Call back",
    "Send proposal",
    "Follow up on viewing",
    "Collect documents",
    "Schedule consultation",
];
const NOTE_BODIES: &[&str] = &[
    "Prefers to be contacted in the morning.",
    "Interested in a 3-bedroom property near schools.",
    "Asked for a quote; budget confirmed.",
    "Met at the open house; very engaged.",
    "Do not call on weekends.",
];
/// Seeded records are dated from here on, one contact a minute, so the data never depends on
/// when the sandbox started.
const EPOCH_MS: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z

/// Adds a location with its users, calendar, campaigns, workflows and custom fields, then
/// `contacts` contacts; returns the location id.
pub fn add_location(
    world: &mut World,
    name: &str,
    contacts: usize,
    allow_duplicates: bool,
) -> String {
    let rng = &mut world.rng;
    let id = new_id(rng);
    let token = new_secret(rng, "pit-", 36);
    let mut location = Location::new(id.clone(), world.company_id.clone(), name.to_owned(), token);
    location.allow_duplicates = allow_duplicates;
    location.users = (0..3).map(|_| new_id(rng)).collect();
    location.calendars =
        vec![Calendar { id: new_id(rng), group_id: new_id(rng), name: "Consultations".into() }];
    location.campaigns = (0..3).map(|_| new_id(rng)).collect();
    location.workflows = (0..3).map(|_| new_id(rng)).collect();
    location.custom_fields = [
        ("contact.budget", "Budget"),
        ("contact.property_type", "Property type"),
        ("contact.lead_score", "Lead score"),
    ]
    .into_iter()
    .map(|(key, name)| CustomFieldDefinition {
        id: new_id(rng),
        key: key.into(),
        name: name.into(),
    })
    .collect();
    for index in 0..contacts {
        let mut stored = seeded_contact(rng, &location, index);
        for appointment in seeded_appointments(rng, &location, &stored.contact, index) {
            stored.appointment_ids.push(appointment.id.clone());
            location.appointments.insert(appointment.id.clone(), appointment);
        }
        location.put_contact(stored);
    }
    let private_token = location.private_integration_token.clone();
    world.locations.insert(id.clone(), location);
    crate::grant_private_token(world, &private_token, &id);
    id
}

fn seeded_contact(rng: &mut impl Rng, location: &Location, index: usize) -> StoredContact {
    let pick =
        |rng: &mut dyn rand::RngCore, items: &[&'static str]| *items.choose(rng).unwrap_or(&"");
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let (city, state, country) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
    let added_ms = EPOCH_MS + index as i64 * 60_000;
    let added = at(added_ms);
    let tag_count = rng.gen_range(0..=3);
    let mut tags: Vec<String> =
        TAGS.choose_multiple(rng, tag_count).map(|t| t.to_string()).collect();
    tags.sort();
    let id = new_id(rng);
    let email = format!("{}.{}.{index}@example.com", first.to_lowercase(), last.to_lowercase());
    let custom_fields = location
        .custom_fields
        .iter()
        .zip([
            serde_json::json!(rng.gen_range(100..2000) * 1000),
            serde_json::json!(pick(rng, &["house", "apartment", "land"])),
            serde_json::json!(rng.gen_range(0..100)),
        ])
        .filter(|_| rng.gen_bool(0.7))
        .map(|(definition, value)| CustomFieldValue {
            id: definition.id.clone(),
            value: crate::api::custom_field_text(&value).into(),
        })
        .collect();
    let contact = Contact {
        id: id.clone(),
        location_id: location.id.clone(),
        name: Some(format!("{first} {last}")),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        first_name_lower_case: Some(first.to_lowercase()),
        last_name_lower_case: Some(last.to_lowercase()),
        full_name_lower_case: Some(format!("{first} {last}").to_lowercase()),
        email_lower_case: Some(email.clone()),
        email: Some(email),
        phone: Some(format!("+1555{:07}", index % 10_000_000)),
        timezone: Some("America/Chicago".into()),
        company_name: rng.gen_bool(0.6).then(|| pick(rng, COMPANIES).to_owned()),
        contact_type: Some(
            if tags.iter().any(|t| t == "customer") { "customer" } else { "lead" }.into(),
        ),
        source: Some(pick(rng, SOURCES).into()),
        assigned_to: location.users.choose(rng).cloned(),
        address1: Some(format!("{} Main St", rng.gen_range(1..9999))),
        city: Some(city.into()),
        state: Some(state.into()),
        country: Some(country.into()),
        postal_code: Some(format!("{:05}", rng.gen_range(10000..99999))),
        tags,
        date_added: Some(added.clone()),
        date_updated: Some(added),
        custom_fields,
        ..Contact::default()
    };
    let tasks = (0..rng.gen_range(0..=2))
        .map(|n| {
            let mut task = Task {
                id: new_id(rng),
                title: pick(rng, TASK_TITLES).into(),
                body: Some(format!("Seeded task {n} for {first} {last}")),
                assigned_to: contact.assigned_to.clone(),
                due_date: at(added_ms + 86_400_000 * (n as i64 + 2)),
                completed: rng.gen_bool(0.3),
                contact_id: id.clone(),
                ..Task::default()
            };
            task.extra.insert("dateAdded".into(), at(added_ms).into());
            task
        })
        .collect();
    let notes = (0..rng.gen_range(0..=2))
        .map(|_| Note {
            id: new_id(rng),
            body: pick(rng, NOTE_BODIES).into(),
            user_id: contact.assigned_to.clone(),
            date_added: at(added_ms + 1000),
            contact_id: id.clone(),
            ..Note::default()
        })
        .collect();
    StoredContact { contact, tasks, notes, ..StoredContact::default() }
}

fn seeded_appointments(
    rng: &mut impl Rng,
    location: &Location,
    contact: &Contact,
    index: usize,
) -> Vec<CalendarEvent> {
    if !rng.gen_bool(0.2) {
        return Vec::new();
    }
    let Some(calendar) = location.calendars.first() else {
        return Vec::new();
    };
    let start = EPOCH_MS + index as i64 * 60_000 + 7 * 86_400_000;
    let user = contact.assigned_to.clone().unwrap_or_default();
    vec![CalendarEvent {
        id: new_id(rng),
        title: format!("Consultation with {}", contact.name.clone().unwrap_or_default()),
        calendar_id: calendar.id.clone(),
        location_id: location.id.clone(),
        contact_id: contact.id.clone(),
        group_id: calendar.group_id.clone(),
        appointment_status: "confirmed".into(),
        assigned_user_id: user.clone(),
        users: vec![user],
        start_time: at(start),
        end_time: at(start + 1_800_000),
        date_added: at(start - 86_400_000),
        date_updated: at(start - 86_400_000),
        ..CalendarEvent::default()
    }]
}

fn at(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis).single().map(iso).unwrap_or_default()
}
