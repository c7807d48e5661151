//! One typed method per operation (the spec's operationId in each doc line), over `call`.
//! Records come back as the shared `ghl-types`, which keep fields they do not know.

use futures_util::stream::{Stream, StreamExt};
use ghl_types::search::SearchBody;
use ghl_types::{
    AppointmentInput, CalendarEvent, Contact, ContactInput, Note, NoteInput, Task, TaskInput,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::{Client, Params};

/// A page of `search-contacts-advanced`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage {
    pub contacts: Vec<Contact>,
    pub total: u64,
}

/// A page of `get-contacts`, with HighLevel's `meta` as sent.
#[derive(Debug, Clone, Deserialize)]
pub struct ContactsPage {
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub meta: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Upserted {
    pub new: bool,
    pub contact: Contact,
}

/// `add` or `remove` for the bulk tag operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BulkTagAction {
    Add,
    Remove,
}

fn field<T: DeserializeOwned>(operation: &str, mut answer: Value, name: &str) -> Result<T> {
    let value = answer.get_mut(name).map(Value::take).unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|err| Error::Permanent {
        operation: operation.into(),
        status: 200,
        message: format!("unexpected answer, `{name}` unreadable: {err}"),
    })
}

fn whole<T: DeserializeOwned>(operation: &str, answer: Value) -> Result<T> {
    serde_json::from_value(answer).map_err(|err| Error::Permanent {
        operation: operation.into(),
        status: 200,
        message: format!("unexpected answer: {err}"),
    })
}

fn body_of(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|err| Error::InvalidCall(format!("cannot encode the body: {err}")))
}

impl Client {
    async fn json(
        &self,
        operation: &str,
        params: &Params<'_>,
        body: Option<Value>,
    ) -> Result<Value> {
        self.call(operation, params, body.as_ref()).await
    }

    /// get-contact
    pub async fn contact(&self, contact_id: &str) -> Result<Contact> {
        field(
            "get-contact",
            self.json("get-contact", &[("contactId", contact_id)], None).await?,
            "contact",
        )
    }

    /// create-contact (never repeated blindly: see `recovery`)
    pub async fn create_contact(&self, input: &ContactInput) -> Result<Contact> {
        let body = body_of(input)?;
        field("create-contact", self.json("create-contact", &[], Some(body)).await?, "contact")
    }

    /// update-contact
    pub async fn update_contact(&self, contact_id: &str, input: &ContactInput) -> Result<Contact> {
        let answer = self
            .json("update-contact", &[("contactId", contact_id)], Some(body_of(input)?))
            .await?;
        field("update-contact", answer, "contact")
    }

    /// delete-contact
    pub async fn delete_contact(&self, contact_id: &str) -> Result<()> {
        self.json("delete-contact", &[("contactId", contact_id)], None).await.map(drop)
    }

    /// upsert-contact
    pub async fn upsert_contact(&self, input: &ContactInput) -> Result<Upserted> {
        let body = body_of(input)?;
        whole("upsert-contact", self.json("upsert-contact", &[], Some(body)).await?)
    }

    /// get-contacts (one page; see `contacts_stream` for all)
    pub async fn list_contacts(&self, params: &Params<'_>) -> Result<ContactsPage> {
        whole("get-contacts", self.json("get-contacts", params, None).await?)
    }

    /// search-contacts-advanced (one page; see `search_stream` for all)
    pub async fn search_contacts(&self, body: &SearchBody) -> Result<SearchPage> {
        whole(
            "search-contacts-advanced",
            self.json("search-contacts-advanced", &[], Some(body_of(body)?)).await?,
        )
    }

    /// get-duplicate-contact: the contact the location's duplicate rules would match.
    pub async fn duplicate_contact(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<Contact>> {
        let mut params: Vec<(&str, &str)> =
            email.map(|email| ("email", email)).into_iter().collect();
        params.extend(phone.map(|phone| ("number", phone)));
        field(
            "get-duplicate-contact",
            self.json("get-duplicate-contact", &params, None).await?,
            "contact",
        )
    }

    /// get-contacts-by-businessId (one page)
    pub async fn contacts_of_business(
        &self,
        business_id: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Contact>> {
        let mut all: Vec<(&str, &str)> = vec![("businessId", business_id)];
        all.extend_from_slice(params);
        field(
            "get-contacts-by-businessId",
            self.json("get-contacts-by-businessId", &all, None).await?,
            "contacts",
        )
    }

    /// add-remove-contact-from-business: set (or with `None` clear) the business of contacts.
    pub async fn set_business(
        &self,
        contact_ids: &[String],
        business_id: Option<&str>,
    ) -> Result<()> {
        let body = json!({ "ids": contact_ids, "businessId": business_id });
        self.json("add-remove-contact-from-business", &[], Some(body)).await.map(drop)
    }

    /// get-all-tasks
    pub async fn tasks(&self, contact_id: &str) -> Result<Vec<Task>> {
        field(
            "get-all-tasks",
            self.json("get-all-tasks", &[("contactId", contact_id)], None).await?,
            "tasks",
        )
    }

    /// get-task
    pub async fn task(&self, contact_id: &str, task_id: &str) -> Result<Task> {
        let answer =
            self.json("get-task", &[("contactId", contact_id), ("taskId", task_id)], None).await?;
        field("get-task", answer, "task")
    }

    /// create-task (never repeated blindly)
    pub async fn create_task(&self, contact_id: &str, input: &TaskInput) -> Result<Task> {
        let answer =
            self.json("create-task", &[("contactId", contact_id)], Some(body_of(input)?)).await?;
        field("create-task", answer, "task")
    }

    /// update-task
    pub async fn update_task(
        &self,
        contact_id: &str,
        task_id: &str,
        input: &TaskInput,
    ) -> Result<Task> {
        let params = [("contactId", contact_id), ("taskId", task_id)];
        field(
            "update-task",
            self.json("update-task", &params, Some(body_of(input)?)).await?,
            "task",
        )
    }

    /// update-task-completed
    pub async fn complete_task(
        &self,
        contact_id: &str,
        task_id: &str,
        completed: bool,
    ) -> Result<Task> {
        let params = [("contactId", contact_id), ("taskId", task_id)];
        let answer = self
            .json("update-task-completed", &params, Some(json!({ "completed": completed })))
            .await?;
        field("update-task-completed", answer, "task")
    }

    /// delete-task
    pub async fn delete_task(&self, contact_id: &str, task_id: &str) -> Result<()> {
        self.json("delete-task", &[("contactId", contact_id), ("taskId", task_id)], None)
            .await
            .map(drop)
    }

    /// get-all-notes
    pub async fn notes(&self, contact_id: &str) -> Result<Vec<Note>> {
        field(
            "get-all-notes",
            self.json("get-all-notes", &[("contactId", contact_id)], None).await?,
            "notes",
        )
    }

    /// get-note
    pub async fn note(&self, contact_id: &str, note_id: &str) -> Result<Note> {
        field(
            "get-note",
            self.json("get-note", &[("contactId", contact_id), ("id", note_id)], None).await?,
            "note",
        )
    }

    /// create-note (never repeated blindly)
    pub async fn create_note(&self, contact_id: &str, input: &NoteInput) -> Result<Note> {
        let answer =
            self.json("create-note", &[("contactId", contact_id)], Some(body_of(input)?)).await?;
        field("create-note", answer, "note")
    }

    /// update-note
    pub async fn update_note(
        &self,
        contact_id: &str,
        note_id: &str,
        input: &NoteInput,
    ) -> Result<Note> {
        let params = [("contactId", contact_id), ("id", note_id)];
        field(
            "update-note",
            self.json("update-note", &params, Some(body_of(input)?)).await?,
            "note",
        )
    }

    /// delete-note
    pub async fn delete_note(&self, contact_id: &str, note_id: &str) -> Result<()> {
        self.json("delete-note", &[("contactId", contact_id), ("id", note_id)], None)
            .await
            .map(drop)
    }

    /// add-tags: answers the contact's tags.
    pub async fn add_tags(&self, contact_id: &str, tags: &[String]) -> Result<Vec<String>> {
        let answer = self
            .json("add-tags", &[("contactId", contact_id)], Some(json!({ "tags": tags })))
            .await?;
        field("add-tags", answer, "tags")
    }

    /// remove-tags: answers the contact's tags.
    pub async fn remove_tags(&self, contact_id: &str, tags: &[String]) -> Result<Vec<String>> {
        let answer = self
            .json("remove-tags", &[("contactId", contact_id)], Some(json!({ "tags": tags })))
            .await?;
        field("remove-tags", answer, "tags")
    }

    /// create-association: add or remove tags on many contacts.
    pub async fn bulk_tags(
        &self,
        action: BulkTagAction,
        contact_ids: &[String],
        tags: &[String],
        remove_all: bool,
    ) -> Result<Value> {
        let kind = if action == BulkTagAction::Add { "add" } else { "remove" };
        let mut body = json!({ "contacts": contact_ids, "tags": tags });
        if remove_all {
            body["removeAllTags"] = true.into();
        }
        self.json("create-association", &[("type", kind)], Some(body)).await
    }

    /// add-followers-contact
    pub async fn add_followers(&self, contact_id: &str, followers: &[String]) -> Result<Value> {
        self.json(
            "add-followers-contact",
            &[("contactId", contact_id)],
            Some(json!({ "followers": followers })),
        )
        .await
    }

    /// remove-followers-contact
    pub async fn remove_followers(&self, contact_id: &str, followers: &[String]) -> Result<Value> {
        self.json(
            "remove-followers-contact",
            &[("contactId", contact_id)],
            Some(json!({ "followers": followers })),
        )
        .await
    }

    /// add-contact-to-campaign
    pub async fn add_to_campaign(&self, contact_id: &str, campaign_id: &str) -> Result<()> {
        let params = [("contactId", contact_id), ("campaignId", campaign_id)];
        self.json("add-contact-to-campaign", &params, Some(json!({}))).await.map(drop)
    }

    /// remove-contact-from-campaign
    pub async fn remove_from_campaign(&self, contact_id: &str, campaign_id: &str) -> Result<()> {
        let params = [("contactId", contact_id), ("campaignId", campaign_id)];
        self.json("remove-contact-from-campaign", &params, None).await.map(drop)
    }

    /// remove-contact-from-every-campaign
    pub async fn remove_from_every_campaign(&self, contact_id: &str) -> Result<()> {
        self.json("remove-contact-from-every-campaign", &[("contactId", contact_id)], None)
            .await
            .map(drop)
    }

    /// add-contact-to-workflow
    pub async fn add_to_workflow(
        &self,
        contact_id: &str,
        workflow_id: &str,
        event_start_time: Option<&str>,
    ) -> Result<()> {
        let params = [("contactId", contact_id), ("workflowId", workflow_id)];
        let body =
            event_start_time.map_or_else(|| json!({}), |time| json!({ "eventStartTime": time }));
        self.json("add-contact-to-workflow", &params, Some(body)).await.map(drop)
    }

    /// delete-contact-from-workflow
    pub async fn remove_from_workflow(&self, contact_id: &str, workflow_id: &str) -> Result<()> {
        let params = [("contactId", contact_id), ("workflowId", workflow_id)];
        self.json("delete-contact-from-workflow", &params, Some(json!({}))).await.map(drop)
    }

    /// get-appointments-for-contact
    pub async fn appointments_of(&self, contact_id: &str) -> Result<Vec<CalendarEvent>> {
        let answer =
            self.json("get-appointments-for-contact", &[("contactId", contact_id)], None).await?;
        field("get-appointments-for-contact", answer, "events")
    }

    /// create-appointment (never repeated blindly)
    pub async fn create_appointment(&self, input: &AppointmentInput) -> Result<CalendarEvent> {
        whole(
            "create-appointment",
            self.json("create-appointment", &[], Some(body_of(input)?)).await?,
        )
    }

    /// get-appointment
    pub async fn appointment(&self, event_id: &str) -> Result<CalendarEvent> {
        field(
            "get-appointment",
            self.json("get-appointment", &[("eventId", event_id)], None).await?,
            "event",
        )
    }

    /// edit-appointment
    pub async fn edit_appointment(
        &self,
        event_id: &str,
        input: &AppointmentInput,
    ) -> Result<CalendarEvent> {
        whole(
            "edit-appointment",
            self.json("edit-appointment", &[("eventId", event_id)], Some(body_of(input)?)).await?,
        )
    }

    /// delete-event
    pub async fn delete_event(&self, event_id: &str) -> Result<()> {
        // The spec requires a body here (DeleteAppointmentSchema, empty).
        self.json("delete-event", &[("eventId", event_id)], Some(json!({}))).await.map(drop)
    }

    /// get-calendar-events: events of a calendar starting in [start_ms, end_ms].
    pub async fn calendar_events(
        &self,
        calendar_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<CalendarEvent>> {
        let (start, end) = (start_ms.to_string(), end_ms.to_string());
        let params = [("calendarId", calendar_id), ("startTime", &start), ("endTime", &end)];
        field(
            "get-calendar-events",
            self.json("get-calendar-events", &params, None).await?,
            "events",
        )
    }

    /// Every contact of the location, by `GET /contacts/` pages of `page_size` (at most 100).
    pub fn contacts_stream(
        &self,
        page_size: u32,
    ) -> impl Stream<Item = Result<Contact>> + Send + 'static {
        let params = vec![("limit".to_owned(), page_size.to_string())];
        typed(self.records("get-contacts", params, None))
    }

    /// Every contact matching a search, by `searchAfter`.
    pub fn search_stream(
        &self,
        body: &SearchBody,
    ) -> impl Stream<Item = Result<Contact>> + Send + 'static {
        let body = serde_json::to_value(body).ok();
        typed(self.records("search-contacts-advanced", Vec::new(), body))
    }

    /// Every contact of a business, by `skip`.
    pub fn business_stream(
        &self,
        business_id: &str,
        page_size: u32,
    ) -> impl Stream<Item = Result<Contact>> + Send + 'static {
        let params = vec![
            ("businessId".to_owned(), business_id.to_owned()),
            ("limit".to_owned(), page_size.to_string()),
        ];
        typed(self.records("get-contacts-by-businessId", params, None))
    }
}

fn typed(
    records: impl Stream<Item = Result<Value>> + Send + 'static,
) -> impl Stream<Item = Result<Contact>> + Send + 'static {
    records.map(|record| record.and_then(|value| whole("contact", value)))
}
