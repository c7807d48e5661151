//! Every operation through the typed client, checked against the sandbox's state.

use ghl_client::operations::BulkTagAction;
use ghl_types::{AppointmentInput, ContactInput, NoteInput, TaskInput};
use serde_json::json;

use crate::support::TestSandbox;

fn contact(first: &str, email: &str) -> ContactInput {
    ContactInput {
        first_name: Some(Some(first.into())),
        email: Some(Some(email.into())),
        ..ContactInput::default()
    }
}

#[tokio::test]
async fn contact_operations_round_trip() {
    let sandbox = TestSandbox::start().await;
    let client = sandbox.client();
    let created = client.create_contact(&contact("Ada", "ada@example.com")).await.expect("create");
    assert_eq!(
        client.contact(&created.id).await.expect("get").email.as_deref(),
        Some("ada@example.com")
    );

    let change = ContactInput {
        last_name: Some(Some("Lovelace".into())),
        date_of_birth: Some(Some(json!("12/10/1815"))),
        ..ContactInput::default()
    };
    let updated = client.update_contact(&created.id, &change).await.expect("update");
    assert_eq!(updated.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(updated.date_of_birth.as_deref(), Some("1815-12-10T00:00:00.000Z"));

    let upserted = client.upsert_contact(&contact("Ada", "ada@example.com")).await.expect("upsert");
    assert!(!upserted.new);
    assert_eq!(upserted.contact.id, created.id);
    let duplicate =
        client.duplicate_contact(Some("ADA@example.com"), None).await.expect("duplicate");
    assert_eq!(duplicate.map(|c| c.id), Some(created.id.clone()));

    let page = client.list_contacts(&[("limit", "5")]).await.expect("list");
    assert_eq!(page.contacts.len(), 5);
    assert_eq!(page.count, 21);
    let search = ghl_types::SearchBody {
        location_id: client.location_id().into(),
        page_limit: 10,
        query: Some("lovelace".into()),
        ..Default::default()
    };
    assert_eq!(client.search_contacts(&search).await.expect("search").total, 1);

    client.set_business(std::slice::from_ref(&created.id), Some("biz")).await.expect("business");
    assert_eq!(client.contacts_of_business("biz", &[]).await.expect("by business").len(), 1);

    client.delete_contact(&created.id).await.expect("delete");
    assert!(matches!(client.contact(&created.id).await, Err(ghl_client::Error::NotFound { .. })));
}

#[tokio::test]
async fn task_note_tag_follower_campaign_workflow_operations() {
    let sandbox = TestSandbox::start().await;
    let client = sandbox.client();
    let id =
        client.create_contact(&contact("Grace", "grace@example.com")).await.expect("create").id;

    let task = client
        .create_task(
            &id,
            &TaskInput {
                title: Some("Call".into()),
                due_date: Some("2026-12-01T10:00:00Z".into()),
                completed: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("task");
    client
        .update_task(
            &id,
            &task.id,
            &TaskInput { body: Some("about the offer".into()), ..Default::default() },
        )
        .await
        .expect("update task");
    assert!(client.complete_task(&id, &task.id, true).await.expect("complete").completed);
    assert_eq!(
        client.task(&id, &task.id).await.expect("get task").body.as_deref(),
        Some("about the offer")
    );
    assert_eq!(client.tasks(&id).await.expect("tasks").len(), 1);
    client.delete_task(&id, &task.id).await.expect("delete task");

    let note = client
        .create_note(&id, &NoteInput { body: Some("first".into()), ..Default::default() })
        .await
        .expect("note");
    client
        .update_note(
            &id,
            &note.id,
            &NoteInput { body: Some("second".into()), ..Default::default() },
        )
        .await
        .expect("update note");
    assert_eq!(client.note(&id, &note.id).await.expect("get note").body, "second");
    assert_eq!(client.notes(&id).await.expect("notes").len(), 1);
    client.delete_note(&id, &note.id).await.expect("delete note");

    assert_eq!(
        client.add_tags(&id, &["VIP".into(), "lead".into()]).await.expect("tags"),
        ["vip", "lead"]
    );
    assert_eq!(client.remove_tags(&id, &["lead".into()]).await.expect("untag"), ["vip"]);
    let bulk = client
        .bulk_tags(BulkTagAction::Add, std::slice::from_ref(&id), &["promo".into()], false)
        .await
        .expect("bulk");
    assert_eq!(bulk["succeded"], true);

    client.add_followers(&id, &["u1".into()]).await.expect("follow");
    client.remove_followers(&id, &["u1".into()]).await.expect("unfollow");

    let location = sandbox.admin_get(&format!("/locations/{}", sandbox.info.location_id)).await;
    let campaign = location["campaigns"][0].as_str().expect("campaign");
    let workflow = location["workflows"][0].as_str().expect("workflow");
    client.add_to_campaign(&id, campaign).await.expect("campaign");
    client.remove_from_campaign(&id, campaign).await.expect("leave campaign");
    client.add_to_campaign(&id, campaign).await.expect("campaign again");
    client.remove_from_every_campaign(&id).await.expect("leave all");
    client.add_to_workflow(&id, workflow, Some("2026-12-01T10:00:00Z")).await.expect("workflow");
    let stored = sandbox.stored(&id).await;
    assert_eq!(stored["campaigns"], json!([]));
    assert_eq!(stored["workflows"], json!([workflow]));
    assert_eq!(stored["contact"]["tags"], json!(["vip", "promo"]));
    client.remove_from_workflow(&id, workflow).await.expect("leave workflow");
    assert_eq!(sandbox.stored(&id).await["workflows"], json!([]));
}

#[tokio::test]
async fn appointment_operations() {
    let sandbox = TestSandbox::start().await;
    let client = sandbox.client();
    let id =
        client.create_contact(&contact("Booked", "booked@example.com")).await.expect("create").id;
    let input = AppointmentInput {
        calendar_id: Some(sandbox.info.calendar_id.clone()),
        contact_id: Some(id.clone()),
        start_time: Some("2026-12-02T15:00:00Z".into()),
        title: Some("Viewing".into()),
        ..Default::default()
    };
    let event = client.create_appointment(&input).await.expect("appointment");
    assert_eq!(client.appointments_of(&id).await.expect("of contact").len(), 1);
    let edit = AppointmentInput { title: Some("Second viewing".into()), ..Default::default() };
    assert_eq!(
        client.edit_appointment(&event.id, &edit).await.expect("edit").title,
        "Second viewing"
    );
    assert_eq!(client.appointment(&event.id).await.expect("get").title, "Second viewing");
    let day = 1_764_633_600_000_i64 + 86_400_000; // 2025-12-02 .. a year later
    let events = client
        .calendar_events(&sandbox.info.calendar_id, day, day + 400 * 86_400_000)
        .await
        .expect("events");
    assert!(events.iter().any(|e| e.id == event.id));
    client.delete_event(&event.id).await.expect("delete");
    assert!(client.appointment(&event.id).await.is_err());
}

#[tokio::test]
async fn any_operation_can_be_called_by_its_spec_id() {
    let sandbox = TestSandbox::start().await;
    let client = sandbox.client();
    let location = sandbox.info.location_id.clone();
    let answer = client
        .call("get-contacts", &[("locationId", &location), ("limit", "2")], None)
        .await
        .expect("call");
    assert_eq!(answer["contacts"].as_array().map(Vec::len), Some(2));
    let unknown = client.call("get-everything", &[], None).await;
    assert!(matches!(unknown, Err(ghl_client::Error::InvalidCall(_))));
    let missing = client.call("get-contact", &[], None).await;
    assert!(
        matches!(missing, Err(ghl_client::Error::InvalidCall(message)) if message.contains("contactId"))
    );
}
