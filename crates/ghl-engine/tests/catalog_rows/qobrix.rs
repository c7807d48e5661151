//! Qobrix's rows (apps/qobrix/manifest.yaml): every operation run as a flow's step against
//! its sandbox, in an order where each finds what it needs (a contact before its comments, a
//! lead before its status change); the deletes after the polls fired; the four webhook events
//! fired by the writes that make Qobrix send them, and the seven polls.

use super::{fired, op, ActionRow, AppRows, TriggerRow};

pub const ROWS: AppRows =
    AppRows { app: "qobrix", actions: ACTIONS, deletes: DELETES, triggers: TRIGGERS };

const CONTACT: (&str, &str) = ("id", ".trigger.qobrixContactId");
const TASK: (&str, &str) = ("id", ".trigger.qobrixTaskId");
const MEETING: (&str, &str) = ("id", ".trigger.qobrixMeetingId");
const CALL: (&str, &str) = ("id", ".trigger.qobrixCallId");
const LEAD: (&str, &str) = ("id", ".trigger.qobrixLeadId");
const PROPERTY: (&str, &str) = ("id", ".trigger.qobrixPropertyId");
const PROJECT: (&str, &str) = ("id", ".trigger.qobrixProjectId");
const WEBHOOK: (&str, &str) = ("id", ".trigger.qobrixWebhookId");

const ACTIONS: &[ActionRow] = &[
    // Contacts.
    op("qobrix.create-contact", "qobrix")
        .input(&[
            ("first_name", r#""Ada""#),
            ("last_name", r#""Lovelace""#),
            ("email", r#""ada@qobrix.test""#),
        ])
        .effect("contact.created")
        .keep("qobrixContactId", "/id"),
    op("qobrix.get-contact", "qobrix").input(&[CONTACT]).output("/email"),
    op("qobrix.update-contact", "qobrix")
        .input(&[CONTACT, ("phone", r#""+35799000001""#), ("marketing_consent", "true")])
        .effect("contact.updated")
        .output("/phone"),
    op("qobrix.list-contacts", "qobrix")
        .input(&[("search", r#""email == \"ada@qobrix.test\"""#), ("sort[]", r#""-modified""#)])
        .output("/0/id"),
    op("qobrix.create-contact-comment", "qobrix")
        .input(&[
            CONTACT,
            ("content", r#""Asked for a sea view""#),
            ("related_model", r#""Contacts""#),
            ("related_id", ".trigger.qobrixContactId"),
        ])
        .effect("comment.created")
        .keep("qobrixContactCommentId", "/id"),
    op("qobrix.list-contact-comments", "qobrix").input(&[CONTACT]).output("/0/content"),
    // Tasks.
    op("qobrix.create-task", "qobrix")
        .input(&[
            ("subject", r#""Send the brochure""#),
            ("priorities", r#""normal""#),
            ("status", r#""new""#),
            ("contact", ".trigger.qobrixContactId"),
            ("end_date", r#""2026-12-02T17:00:00Z""#),
        ])
        .effect("task.created")
        .keep("qobrixTaskId", "/id"),
    op("qobrix.get-task", "qobrix").input(&[TASK]).output("/subject"),
    op("qobrix.update-task", "qobrix")
        .input(&[TASK, ("status", r#""completed""#), ("outcome", r#""successful""#)])
        .effect("task.updated")
        .output("/outcome"),
    op("qobrix.list-tasks", "qobrix")
        .input(&[("search", r#""priorities == \"normal\"""#)])
        .output("/0/id"),
    op("qobrix.create-task-comment", "qobrix")
        .input(&[
            TASK,
            ("content", r#""Brochure sent by email""#),
            ("related_model", r#""Tasks""#),
            ("related_id", ".trigger.qobrixTaskId"),
        ])
        .effect("comment.created")
        .keep("qobrixTaskCommentId", "/id"),
    op("qobrix.list-task-comments", "qobrix").input(&[TASK]).output("/0/content"),
    // Meetings.
    op("qobrix.create-meeting", "qobrix")
        .input(&[
            ("start_date", r#""2026-12-02T10:00:00Z""#),
            ("end_date", r#""2026-12-02T11:00:00Z""#),
            ("contact", ".trigger.qobrixContactId"),
            ("viewing_type", r#""in_person""#),
        ])
        .effect("meeting.created")
        .keep("qobrixMeetingId", "/id"),
    op("qobrix.get-meeting", "qobrix").input(&[MEETING]).output("/start_date"),
    op("qobrix.update-meeting", "qobrix")
        .input(&[MEETING, ("location", r#""Limassol marina""#)])
        .effect("meeting.updated")
        .output("/location"),
    op("qobrix.list-meetings", "qobrix")
        .input(&[("search", r#""start_date >= \"2026-12-02T00:00:00\"""#)])
        .output("/0/id"),
    op("qobrix.create-meeting-comment", "qobrix")
        .input(&[
            MEETING,
            ("content", r#""Bring the floor plans""#),
            ("related_model", r#""Viewings""#),
            ("related_id", ".trigger.qobrixMeetingId"),
        ])
        .effect("comment.created")
        .keep("qobrixMeetingCommentId", "/id"),
    op("qobrix.list-meeting-comments", "qobrix").input(&[MEETING]).output("/0/content"),
    // Calls.
    op("qobrix.create-call", "qobrix")
        .input(&[
            ("subject", r#""First call""#),
            ("direction", r#""outbound""#),
            ("contact", ".trigger.qobrixContactId"),
        ])
        .effect("call.created")
        .keep("qobrixCallId", "/id"),
    op("qobrix.get-call", "qobrix").input(&[CALL]).output("/subject"),
    op("qobrix.update-call", "qobrix")
        .input(&[CALL, ("status", r#""held""#), ("outcome", r#""needs_follow_up""#)])
        .effect("call.updated")
        .output("/status"),
    op("qobrix.list-calls", "qobrix").input(&[("limit", "10")]).output("/0/id"),
    // Leads: a create sends `lead_created`, a status change `lead_status_changed`.
    op("qobrix.create-opportunity", "qobrix")
        .input(&[
            ("contact_name", ".trigger.qobrixContactId"),
            ("status", r#""new""#),
            ("enquiry_date", r#""2026-12-01""#),
        ])
        .effect("lead_created")
        .keep("qobrixLeadId", "/id"),
    op("qobrix.get-opportunity", "qobrix").input(&[LEAD]).output("/ref"),
    op("qobrix.update-opportunity", "qobrix")
        .input(&[LEAD, ("status", r#""viewing""#)])
        .effect("lead_status_changed")
        .output("/status"),
    op("qobrix.list-opportunities", "qobrix")
        .input(&[("search", r#""status == \"viewing\"""#)])
        .output("/0/id"),
    // Properties and projects: an update sends `property_changed` / `project_changed`.
    op("qobrix.create-project", "qobrix")
        .input(&[("name", r#""Marina Residences""#), ("type", r#""project""#)])
        .effect("project.created")
        .keep("qobrixProjectId", "/id"),
    op("qobrix.get-project", "qobrix").input(&[PROJECT]).output("/name"),
    op("qobrix.update-project", "qobrix")
        .input(&[PROJECT, ("website_status", r#""published""#)])
        .effect("project_changed")
        .output("/website_status"),
    op("qobrix.list-projects", "qobrix").input(&[("limit", "10")]).output("/0/id"),
    op("qobrix.create-property", "qobrix")
        .input(&[
            ("name", r#""Sea-view apartment""#),
            ("property_type", r#""apartment""#),
            ("sale_rent", r#""for_sale""#),
            ("project", ".trigger.qobrixProjectId"),
        ])
        .effect("propertie.created")
        .keep("qobrixPropertyId", "/id"),
    op("qobrix.get-property", "qobrix").input(&[PROPERTY]).output("/property_type"),
    op("qobrix.update-property", "qobrix")
        .input(&[PROPERTY, ("list_selling_price_amount", "350000")])
        .effect("property_changed")
        .output("/list_selling_price_amount"),
    op("qobrix.list-properties", "qobrix")
        .input(&[("search", r#""list_selling_price_amount > 300000""#)])
        .output("/0/id"),
    // Webhook subscriptions.
    op("qobrix.create-webhook", "qobrix")
        .input(&[
            ("url", r#""https://hooks.example/qobrix/lead-created""#),
            ("context", r#""lead_created""#),
            ("http_method", r#""POST""#),
        ])
        .effect("webhooks-notification.created")
        .keep("qobrixWebhookId", "/id"),
    op("qobrix.get-webhook", "qobrix").input(&[WEBHOOK]).output("/context"),
    op("qobrix.update-webhook", "qobrix")
        .input(&[WEBHOOK, ("active", "false")])
        .effect("webhooks-notification.updated")
        .output("/url"),
    op("qobrix.list-webhooks", "qobrix").input(&[("limit", "10")]).output("/0/id"),
];

const DELETES: &[ActionRow] = &[
    op("qobrix.delete-contact-comment", "qobrix")
        .input(&[CONTACT, ("commentId", ".trigger.qobrixContactCommentId")])
        .effect("comment.deleted"),
    op("qobrix.delete-task-comment", "qobrix")
        .input(&[TASK, ("commentId", ".trigger.qobrixTaskCommentId")])
        .effect("comment.deleted"),
    op("qobrix.delete-meeting-comment", "qobrix")
        .input(&[MEETING, ("commentId", ".trigger.qobrixMeetingCommentId")])
        .effect("comment.deleted"),
    op("qobrix.delete-task", "qobrix").input(&[TASK]).effect("task.deleted"),
    op("qobrix.delete-meeting", "qobrix").input(&[MEETING]).effect("meeting.deleted"),
    op("qobrix.delete-call", "qobrix").input(&[CALL]).effect("call.deleted"),
    op("qobrix.delete-opportunity", "qobrix").input(&[LEAD]).effect("opportunitie.deleted"),
    op("qobrix.delete-property", "qobrix").input(&[PROPERTY]).effect("propertie.deleted"),
    op("qobrix.delete-project", "qobrix").input(&[PROJECT]).effect("project.deleted"),
    op("qobrix.delete-webhook", "qobrix").input(&[WEBHOOK]).effect("webhooks-notification.deleted"),
    op("qobrix.delete-contact", "qobrix").input(&[CONTACT]).effect("contact.deleted"),
];

const TRIGGERS: &[TriggerRow] = &[
    fired("qobrix.lead_created", "qobrix.create-opportunity", "/id"),
    fired("qobrix.lead_status_changed", "qobrix.update-opportunity", "/new_status"),
    fired("qobrix.property_changed", "qobrix.update-property", "/id"),
    fired("qobrix.project_changed", "qobrix.update-project", "/id"),
    fired("poll: qobrix.contacts", "qobrix.create-contact and update-contact", "/id"),
    fired("poll: qobrix.tasks", "qobrix.create-task and update-task", "/id"),
    fired("poll: qobrix.meetings", "qobrix.create-meeting and update-meeting", "/id"),
    fired("poll: qobrix.calls", "qobrix.create-call and update-call", "/id"),
    fired("poll: qobrix.leads", "qobrix.create-opportunity and update-opportunity", "/id"),
    fired("poll: qobrix.properties", "qobrix.create-property and update-property", "/id"),
    fired("poll: qobrix.projects", "qobrix.create-project and update-project", "/id"),
];
