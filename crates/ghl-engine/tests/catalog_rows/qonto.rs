//! Qonto's rows: a client made, read, changed, found by its email and deleted; the
//! organization, the bank account's transactions (one marked as needing no attachment),
//! SEPA beneficiaries, labels, memberships and client invoices read from what the sandbox
//! holds from the start. The connection's account is the sandbox's main bank account, so
//! the transactions list and poll need no input for it. The sandbox's app-side activity (a
//! card payment, asked for by the test) sends the transaction webhooks.

use super::{fired, op, ActionRow, AppRows, TriggerRow};

const CLIENT: (&str, &str) = ("id", ".trigger.qontoClientId");

const ACTIONS: &[ActionRow] = &[
    op("qonto.get-organization", "qonto").output("/bank_accounts/0/iban"),
    op("qonto.create-client", "qonto")
        .input(&[
            ("kind", r#""company""#),
            ("name", r#""Analytical Engines SAS""#),
            ("email", r#""ada@analytical.example""#),
            ("country_code", r#""FR""#),
            ("currency", r#""EUR""#),
        ])
        .effect("v1/clients.created")
        .keep("qontoClientId", "/id"),
    op("qonto.get-client", "qonto").input(&[CLIENT]).output("/email"),
    op("qonto.update-client", "qonto")
        .input(&[CLIENT, ("phone", r#"{country_code: "+33", number: "612345678"}"#)])
        .effect("v1/clients.updated")
        .output("/phone/number"),
    op("qonto.list-clients", "qonto")
        .input(&[("filter[email]", r#""ada@analytical.example""#)])
        .output("/0/id"),
    op("qonto.list-transactions", "qonto")
        .input(&[("per_page", "10")])
        .output("/0/amount_cents")
        .keep("qontoTransactionId", "/0/id"),
    op("qonto.get-transaction", "qonto")
        .input(&[("id", ".trigger.qontoTransactionId")])
        .output("/transaction_id"),
    op("qonto.update-transaction", "qonto")
        .input(&[("id", ".trigger.qontoTransactionId"), ("attachment_required", "false")])
        .effect("v1/transactions.updated")
        .output("/attachment_required"),
    op("qonto.list-beneficiaries", "qonto")
        .input(&[("trusted", "true")])
        .keep("qontoBeneficiaryId", "/0/id"),
    op("qonto.get-beneficiary", "qonto")
        .input(&[("id", ".trigger.qontoBeneficiaryId")])
        .output("/iban"),
    op("qonto.list-labels", "qonto").keep("qontoLabelId", "/0/id"),
    op("qonto.get-label", "qonto").input(&[("id", ".trigger.qontoLabelId")]).output("/name"),
    op("qonto.list-memberships", "qonto").output("/0/role"),
    op("qonto.list-client-invoices", "qonto")
        .input(&[("filter[status]", r#""unpaid""#)])
        .keep("qontoInvoiceId", "/0/id"),
    op("qonto.get-client-invoice", "qonto")
        .input(&[("id", ".trigger.qontoInvoiceId")])
        .output("/total_amount/value"),
];

const DELETES: &[ActionRow] =
    &[op("qonto.delete-client", "qonto").input(&[CLIENT]).effect("v1/clients.deleted")];

const TRIGGERS: &[TriggerRow] = &[
    fired("qonto.v1/clients.created", "qonto.create-client", "/id"),
    fired("qonto.v1/clients.updated", "qonto.update-client", "/phone"),
    fired("qonto.v1/clients.deleted", "qonto.delete-client", "/id"),
    fired("qonto.v1/transactions.created", "a card payment (the sandbox's activity)", "/id"),
    fired("qonto.v1/transactions.updated", "qonto.update-transaction", "/attachment_required"),
    fired("poll: qonto.clients", "the client the rows made", "/email"),
    fired("poll: qonto.transactions", "the bank account's transactions", "/amount_cents"),
];

pub const ROWS: AppRows =
    AppRows { app: "qonto", actions: ACTIONS, deletes: DELETES, triggers: TRIGGERS };
