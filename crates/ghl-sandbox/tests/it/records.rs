//! Tasks, notes and appointments of a contact.

use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn task_lifecycle_with_completion_event() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "Tasked" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let created = sandbox
        .call("create-task", &[("contactId", &contact)], Some(json!({ "title": "Call", "body": "About the offer", "dueDate": "2026-12-01T10:00:00.000Z", "completed": false })))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let task = created.body["task"]["id"].as_str().expect("task id").to_owned();
    assert_eq!(created.body["task"]["contactId"], contact);

    let listed = sandbox.call("get-all-tasks", &[("contactId", &contact)], None).await;
    assert_eq!(listed.body["tasks"].as_array().map(Vec::len), Some(1));
    let updated = sandbox
        .call(
            "update-task",
            &[("contactId", &contact), ("taskId", &task)],
            Some(json!({ "title": "Call back" })),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["task"]["title"], "Call back");
    assert_eq!(updated.body["task"]["body"], "About the offer");

    let completed = sandbox
        .call(
            "update-task-completed",
            &[("contactId", &contact), ("taskId", &task)],
            Some(json!({ "completed": true })),
        )
        .await;
    assert_eq!(completed.status, 200);
    assert_eq!(completed.body["task"]["completed"], true);
    let read = sandbox.call("get-task", &[("contactId", &contact), ("taskId", &task)], None).await;
    assert_eq!(read.body["task"]["completed"], true);
    let events =
        sandbox.admin(reqwest::Method::GET, "/webhooks?type=TaskComplete", None).await.body;
    assert_eq!(events["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(events["events"][0]["payload"]["id"], task);

    let deleted =
        sandbox.call("delete-task", &[("contactId", &contact), ("taskId", &task)], None).await;
    assert_eq!(deleted.body["succeded"], true);
    let gone = sandbox.call("get-task", &[("contactId", &contact), ("taskId", &task)], None).await;
    assert_eq!(gone.status, 400);
    assert_eq!(sandbox.stored_contact(&contact).await.body["tasks"], json!([]));
}

#[tokio::test]
async fn create_task_requires_its_fields() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "T" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reply = sandbox
        .call("create-task", &[("contactId", &contact)], Some(json!({ "body": "no title" })))
        .await;
    assert_eq!(reply.status, 422);
    let messages = reply.body["message"].as_array().expect("messages");
    for field in ["title", "dueDate", "completed"] {
        assert!(
            messages.iter().any(|m| m.as_str().is_some_and(|m| m.starts_with(field))),
            "{field}: {messages:?}"
        );
    }
    assert_eq!(sandbox.stored_contact(&contact).await.body["tasks"], json!([]));
}

#[tokio::test]
async fn note_lifecycle() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "Noted" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let created = sandbox
        .call(
            "create-note",
            &[("contactId", &contact)],
            Some(json!({ "body": "First call went well" })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let note = created.body["note"]["id"].as_str().expect("note id").to_owned();
    let updated = sandbox
        .call(
            "update-note",
            &[("contactId", &contact), ("id", &note)],
            Some(json!({ "body": "Second call too", "pinned": true })),
        )
        .await;
    assert_eq!(updated.status, 200);
    let read = sandbox.call("get-note", &[("contactId", &contact), ("id", &note)], None).await;
    assert_eq!(read.body["note"]["body"], "Second call too");
    assert_eq!(read.body["note"]["pinned"], true);
    let listed = sandbox.call("get-all-notes", &[("contactId", &contact)], None).await;
    assert_eq!(listed.body["notes"].as_array().map(Vec::len), Some(1));
    let deleted =
        sandbox.call("delete-note", &[("contactId", &contact), ("id", &note)], None).await;
    assert_eq!(deleted.body["succeded"], true);
    assert_eq!(
        sandbox.call("get-note", &[("contactId", &contact), ("id", &note)], None).await.status,
        400
    );
    let kinds: Vec<String> = sandbox.admin(reqwest::Method::GET, "/webhooks", None).await.body
        ["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["type"].as_str().map(str::to_owned))
        .filter(|kind| kind.starts_with("Note"))
        .collect();
    assert_eq!(kinds, ["NoteCreate", "NoteUpdate", "NoteDelete"]);
}

#[tokio::test]
async fn appointment_lifecycle_and_listing_by_start_time() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "Booked" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let calendar = sandbox.info.calendar_id.clone();
    let location = sandbox.location().to_owned();
    let created = sandbox
        .call(
            "create-appointment",
            &[],
            Some(json!({ "calendarId": calendar, "locationId": location, "contactId": contact,
                         "startTime": "2026-12-02T15:00:00.000Z", "endTime": "2026-12-02T15:30:00.000Z", "title": "Viewing" })),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let event = created.body["id"].as_str().expect("event id").to_owned();

    let of_contact =
        sandbox.call("get-appointments-for-contact", &[("contactId", &contact)], None).await;
    assert_eq!(of_contact.status, 200);
    assert_eq!(of_contact.body["events"][0]["id"], event);

    let edited = sandbox
        .call("edit-appointment", &[("eventId", &event)], Some(json!({ "appointmentStatus": "showed", "startTime": "2026-12-03T15:00:00.000Z", "endTime": "2026-12-03T15:30:00.000Z" })))
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let read = sandbox.call("get-appointment", &[("eventId", &event)], None).await;
    assert_eq!(read.body["event"]["appointmentStatus"], "showed");

    let moved_to =
        events_between(&sandbox, &calendar, "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z").await;
    assert_eq!(moved_to.status, 200, "{:?}", moved_to.body);
    assert_eq!(moved_to.body["events"].as_array().map(Vec::len), Some(1));
    let old_day =
        events_between(&sandbox, &calendar, "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z").await;
    assert_eq!(old_day.body["events"].as_array().map(Vec::len), Some(0));

    let deleted = sandbox.call("delete-event", &[("eventId", &event)], None).await;
    assert_eq!(deleted.status, 201);
    assert_eq!(deleted.body["succeeded"], true);
    assert_eq!(sandbox.call("get-appointment", &[("eventId", &event)], None).await.status, 400);
    let kinds: Vec<String> = sandbox.admin(reqwest::Method::GET, "/webhooks", None).await.body
        ["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["type"].as_str().is_some_and(|kind| kind.starts_with("Appointment")))
        .map(|event| {
            assert!(
                event["payload"]["appointment"]["id"].is_string(),
                "appointment events wrap the record"
            );
            event["type"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"]);
}

async fn events_between(
    sandbox: &TestSandbox,
    calendar: &str,
    from: &str,
    to: &str,
) -> crate::support::Reply {
    let millis = |date: &str| {
        chrono::DateTime::parse_from_rfc3339(date).expect("date").timestamp_millis().to_string()
    };
    let (from, to) = (millis(from), millis(to));
    let params = [
        ("locationId", sandbox.location()),
        ("calendarId", calendar),
        ("startTime", &from),
        ("endTime", &to),
    ];
    sandbox.call("get-calendar-events", &params, None).await
}

#[tokio::test]
async fn appointment_in_unknown_calendar_is_refused() {
    let sandbox = TestSandbox::start().await;
    let contact = sandbox.create_contact(json!({ "firstName": "X" })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let location = sandbox.location().to_owned();
    let reply = sandbox
        .call("create-appointment", &[], Some(json!({ "calendarId": "nope", "locationId": location, "contactId": contact, "startTime": "2026-12-02T15:00:00Z" })))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(sandbox.effects().await.get("appointment.created"), None);
}
