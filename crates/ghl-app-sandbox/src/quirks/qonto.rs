//! Qonto's sandbox beyond its manifest (specs/partners/qonto-openapi.yaml, NOTES.md §3):
//! UUID ids; an organization with its bank accounts, transactions, labels, memberships,
//! SEPA beneficiaries and a client invoice held from the start (the API only reads them);
//! no uniqueness of clients ("There is no uniqueness rule"); per-kind required client
//! fields (a company's `name`, a person's `first_name` and `last_name`); transactions
//! listed only for a `bank_account_id` or an `iban`; `filter[...]`, `..._from`/`..._to` and
//! `...[]` list parameters; `meta{current_page,next_page,prev_page,total_pages,total_count,
//! per_page}`; JSON:API error bodies with a `trace_id`; webhook envelopes `{id,
//! subscription_id, organization_id, membership_id, type, created_at, data}`; and card
//! payments made on Qonto's side (`POST /_sandbox/activity`): a new transaction, a pending
//! one settled, each sent as its webhook.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ghl_apps::manifest::Method;
use ghl_apps::Operation;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{Filter, Page, Quirks};
use crate::rest::{now, Record, Rest};
use crate::{answer, Shared};

pub struct Qonto;

const ORGANIZATION: &str = "/v2/organization";
const CLIENTS: &str = "/v2/clients";
const TRANSACTIONS: &str = "/v2/transactions";
const LABELS: &str = "/v2/labels";
const MEMBERSHIPS: &str = "/v2/memberships";
const BENEFICIARIES: &str = "/v2/sepa/beneficiaries";
const CLIENT_INVOICES: &str = "/v2/client_invoices";

/// The IBAN of the seeded main account (a French test IBAN).
pub const MAIN_IBAN: &str = "FR7616958000017421874312097";

/// A UUID (version 4 layout) from 16 bytes.
fn uuid(bytes: [u8; 16]) -> String {
    let mut bytes = bytes;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A stable UUID named by `parts` (the organization's id from the sandbox's account).
fn named_uuid(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("/").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid(bytes)
}

fn random_uuid(rng: &mut ChaCha8Rng) -> String {
    uuid(rng.gen())
}

/// The organization of the sandbox whose main bank account is `account_id`.
fn organization_id(account_id: &str) -> String {
    named_uuid(&["organization", account_id])
}

/// The owner's membership (who made the webhook subscriptions).
fn owner_id(account_id: &str) -> String {
    named_uuid(&["membership", "owner", account_id])
}

fn object(value: Value) -> Record {
    match value {
        Value::Object(record) => record,
        _ => Map::new(),
    }
}

fn transaction(
    id: String,
    account_id: &str,
    slug: u32,
    (label, side, amount_cents): (&str, &str, i64),
    status: &str,
    label_ids: &[&str],
) -> Record {
    let stamp = now();
    let settled = (status == "completed").then(|| stamp.clone());
    let amount = amount_cents as f64 / 100.0;
    object(json!({
        "id": id,
        "transaction_id": format!("sandbox-organization-transaction-{slug}"),
        "amount": amount,
        "amount_cents": amount_cents,
        "settled_balance": null,
        "settled_balance_cents": null,
        "local_amount": amount,
        "local_amount_cents": amount_cents,
        "side": side,
        "operation_type": if side == "credit" { "income" } else { "card" },
        "currency": "EUR",
        "local_currency": "EUR",
        "label": label,
        "clean_counterparty_name": label,
        "settled_at": settled,
        "emitted_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
        "status": status,
        "note": null,
        "reference": null,
        "vat_amount": null,
        "vat_amount_cents": null,
        "vat_rate": null,
        "initiator_id": null,
        "label_ids": label_ids,
        "attachment_ids": [],
        "attachment_lost": false,
        "attachment_required": side == "debit",
        "card_last_digits": if side == "debit" { Value::from("4242") } else { Value::Null },
        "category": if side == "credit" { "other_income" } else { "other_expense" },
        "subject_type": "Transaction",
        "bank_account_id": account_id,
        "is_external_transaction": false,
    }))
}

/// A 422 naming the field (`source.pointer`), as Qonto's validation errors do.
fn unprocessable(shared: &Shared, field: &str, code: &str, detail: &str) -> Response {
    let pointer = Value::String(format!("/{field}"));
    answer::error(
        shared,
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        detail,
        &[("/errors/0/source/pointer", pointer)],
    )
}

/// A create's per-kind required fields (qontoctl: a company's name, a person's names).
fn check_client(shared: &Shared, body: &Bytes) -> Option<Response> {
    let Ok(Value::Object(client)) = serde_json::from_slice::<Value>(body) else { return None };
    let given = |field: &str| {
        client.get(field).and_then(Value::as_str).is_some_and(|text| !text.trim().is_empty())
    };
    let kind = client.get("kind").and_then(Value::as_str)?;
    let needed: &[&str] = match kind {
        "company" => &["name"],
        "individual" | "freelancer" => &["first_name", "last_name"],
        other => {
            let detail = format!("kind `{other}` is not one of company, individual, freelancer");
            return Some(unprocessable(shared, "kind", "inclusion", &detail));
        }
    };
    let missing = needed.iter().find(|field| !given(field))?;
    let detail = format!("{missing} can't be blank for a {kind} client");
    Some(unprocessable(shared, missing, "blank", &detail))
}

/// Transactions are listed per bank account: `bank_account_id`, or an `iban` read as it.
fn bank_account(
    shared: &Shared,
    rest: &Rest,
    query: &mut Vec<(String, String)>,
) -> Option<Response> {
    let iban = query.iter().find(|(name, _)| name == "iban").map(|(_, value)| value.clone());
    query.retain(|(name, _)| name != "iban");
    let accounts = rest
        .records(ORGANIZATION)
        .first()
        .and_then(|organization| organization.get("bank_accounts").cloned())
        .and_then(|accounts| accounts.as_array().cloned())
        .unwrap_or_default();
    let by = |field: &str, value: &str| {
        accounts.iter().find(|account| account[field].as_str() == Some(value)).cloned()
    };
    let given = query.iter().find(|(name, _)| name == "bank_account_id").map(|(_, v)| v.clone());
    let found = match (&given, &iban) {
        (Some(id), _) => by("id", id),
        (None, Some(iban)) => by("iban", iban),
        (None, None) => {
            return Some(answer::error(
                shared,
                StatusCode::BAD_REQUEST,
                "missing_parameter",
                "bank_account_id or iban is required: the transactions of which bank account",
                &[("/errors/0/source/parameter", Value::from("bank_account_id"))],
            ))
        }
    };
    let Some(account) = found else {
        return Some(answer::error(
            shared,
            StatusCode::NOT_FOUND,
            "not_found",
            "No bank account of the organization has this bank_account_id or iban",
            &[],
        ));
    };
    if given.is_none() {
        let id = account["id"].as_str().unwrap_or_default().to_owned();
        query.push(("bank_account_id".into(), id));
    }
    None
}

impl Quirks for Qonto {
    fn new_id(&self, rng: &mut ChaCha8Rng) -> String {
        random_uuid(rng)
    }

    fn delivery_id(&self, rng: &mut ChaCha8Rng) -> String {
        random_uuid(rng)
    }

    fn seed(&self, rest: &Rest, rng: &mut ChaCha8Rng) {
        let account = rest.account_id.as_str();
        let organization = organization_id(account);
        let stamp = now();
        let bank_account = |id: &str, name: &str, iban: &str, main: bool, cents: i64| {
            json!({
                "id": id,
                "slug": format!("sandbox-organization-bank-account-{}", if main { 1 } else { 2 }),
                "name": name,
                "status": "active",
                "main": main,
                "organization_id": organization,
                "iban": iban,
                "bic": "QNTOFRP1XXX",
                "currency": "EUR",
                "balance": cents as f64 / 100.0,
                "balance_cents": cents,
                "authorized_balance": cents as f64 / 100.0,
                "authorized_balance_cents": cents,
                "is_external_account": false,
                "updated_at": stamp,
            })
        };
        let savings = random_uuid(rng);
        rest.insert(
            ORGANIZATION,
            object(json!({
                "id": organization,
                "slug": "sandbox-organization-2513",
                "name": "Sandbox SAS",
                "legal_name": "Sandbox SAS",
                "locale": "fr",
                "legal_country": "FR",
                "legal_form": "SAS",
                "bank_accounts": [
                    bank_account(account, "Main account", MAIN_IBAN, true, 12_345_067),
                    bank_account(&savings, "Savings", "FR7616958000012345678901234", false, 500_000),
                ],
            })),
        );
        let (travel, train) = (random_uuid(rng), random_uuid(rng));
        for (id, name, parent) in [
            (&travel, "Travel", Value::Null),
            (&train, "Train", Value::from(travel.clone())),
            (&random_uuid(rng), "Office", Value::Null),
        ] {
            rest.insert(LABELS, object(json!({ "id": id, "name": name, "parent_id": parent })));
        }
        let owner = owner_id(account);
        for (id, first, last, role) in [
            (owner.clone(), "Ada", "Lovelace", "owner"),
            (random_uuid(rng), "Grace", "Hopper", "accountant"),
        ] {
            rest.insert(
                MEMBERSHIPS,
                object(json!({
                    "id": id,
                    "first_name": first,
                    "last_name": last,
                    "email": format!("{}@sandbox.example", first.to_lowercase()),
                    "role": role,
                    "team_id": null,
                    "residence_country": "FR",
                    "status": "active",
                })),
            );
        }
        for (name, iban, status, trusted) in [
            ("Office Supplies SARL", "FR7630006000011234567890189", "validated", true),
            ("Printing Co", "DE89370400440532013000", "pending", false),
        ] {
            rest.insert(
                BENEFICIARIES,
                object(json!({
                    "id": random_uuid(rng),
                    "name": name,
                    "iban": iban,
                    "bic": null,
                    "email": null,
                    "activity_tag": null,
                    "status": status,
                    "trusted": trusted,
                    "currency": "EUR",
                    "created_at": stamp,
                    "updated_at": stamp,
                })),
            );
        }
        let seeded = [
            (("Client payment", "credit", 120_000), "completed", vec![]),
            (("SNCF", "debit", 8_450), "completed", vec![train.as_str()]),
            (("Coffee shop", "debit", 420), "pending", vec![]),
        ];
        for (slug, (what, status, labels)) in (1..).zip(seeded) {
            let id = random_uuid(rng);
            rest.insert(TRANSACTIONS, transaction(id, account, slug, what, status, &labels));
        }
        let client = random_uuid(rng);
        rest.insert(
            CLIENT_INVOICES,
            object(json!({
                "id": random_uuid(rng),
                "organization_id": organization,
                "number": "F-2026-001",
                "invoice_number": "F-2026-001",
                "status": "unpaid",
                "client_id": client,
                "currency": "EUR",
                "total_amount": {"value": "1200.00", "currency": "EUR"},
                "total_amount_cents": 120_000,
                "vat_amount": {"value": "200.00", "currency": "EUR"},
                "vat_amount_cents": 20_000,
                "issue_date": "2026-11-02",
                "due_date": "2026-12-02",
                "created_at": stamp,
                "updated_at": stamp,
                "contact_email": "billing@acme.example",
                "items": [],
                "client": {"id": client, "type": "company", "name": "Acme SAS"},
            })),
        );
    }

    fn unique_natural_keys(&self) -> bool {
        false
    }

    fn filter(&self, name: &str) -> Filter {
        if ["sort_by", "includes[]", "with_attachments", "exclude_imported", "iban"].contains(&name)
            || name == "include_external_accounts"
        {
            return Filter::Ignore;
        }
        let inner = name.strip_prefix("filter[").and_then(|rest| rest.strip_suffix(']'));
        let field = inner.unwrap_or(name);
        let field = field.strip_suffix("[]").unwrap_or(field);
        if let Some(field) = field.strip_suffix("_from") {
            return Filter::From(field.to_owned());
        }
        if let Some(field) = field.strip_suffix("_to") {
            return Filter::To(field.to_owned());
        }
        Filter::Equals(field.to_owned())
    }

    fn prepare(
        &self,
        shared: &Shared,
        operation: &Operation,
        query: &mut Vec<(String, String)>,
        body: &Bytes,
    ) -> Option<Response> {
        let rest = shared.rest.as_ref()?;
        match (operation.method, operation.path.as_str()) {
            (Method::Get, ORGANIZATION) => {
                let organization = rest.records(ORGANIZATION).into_iter().next()?;
                Some(axum::Json(json!({ "organization": organization })).into_response())
            }
            (Method::Get, TRANSACTIONS) => bank_account(shared, rest, query),
            (Method::Post, CLIENTS) => check_client(shared, body),
            _ => None,
        }
    }

    fn page(&self, answer: &mut Value, page: &Page) {
        let total_pages = page.total.div_ceil(page.limit.max(1)).max(1);
        let current = page.number - page.first + 1;
        let next = (current < total_pages).then(|| current + 1);
        let prev = (current > 1).then(|| current - 1);
        answer::set(
            answer,
            "/meta",
            json!({
                "current_page": current,
                "next_page": next,
                "prev_page": prev,
                "total_pages": total_pages,
                "total_count": page.total,
                "per_page": page.limit,
            }),
        );
    }

    fn error(&self, body: &mut Value, _status: StatusCode, rng: &mut ChaCha8Rng) {
        let trace: [u8; 16] = rng.gen();
        let trace: String = trace.iter().map(|byte| format!("{byte:02x}")).collect();
        answer::set(body, "/trace_id", Value::String(trace));
    }

    fn webhook(&self, body: &mut Value, account_id: &str) {
        let kind = body["type"].as_str().unwrap_or_default().to_owned();
        answer::set(body, "/subscription_id", json!(named_uuid(&["subscription", &kind])));
        answer::set(body, "/organization_id", json!(organization_id(account_id)));
        answer::set(body, "/membership_id", json!(owner_id(account_id)));
        answer::set(body, "/created_at", json!(now()));
    }

    fn activity(&self, shared: &Shared) -> Value {
        let Some(rest) = &shared.rest else { return json!({ "changed": 0 }) };
        let account = rest.account_id.as_str();
        let existing = rest.records(TRANSACTIONS);
        // A pending card payment settles.
        let pending = existing.iter().find(|record| record["status"] == "pending");
        let pending_id = pending.and_then(|record| record["id"].as_str()).map(str::to_owned);
        let mut updated = Vec::new();
        if let Some(id) = pending_id {
            let mut settled = None;
            rest.change(TRANSACTIONS, &id, |record| {
                let stamp = now();
                record.insert("status".into(), json!("completed"));
                record.insert("settled_at".into(), json!(stamp));
                record.insert("updated_at".into(), json!(stamp));
                settled = Some(record.clone());
            });
            if let Some(record) = settled {
                shared.stats.lock().effect("v1/transactions.updated");
                shared.webhooks.emit("v1/transactions.updated", &record);
                updated.push(id);
            }
        }
        // A new card payment, pending.
        let id = random_uuid(&mut shared.rng.lock());
        let slug = u32::try_from(existing.len()).unwrap_or(u32::MAX).saturating_add(1);
        let record =
            transaction(id.clone(), account, slug, ("Bakery", "debit", 650), "pending", &[]);
        rest.insert(TRANSACTIONS, record.clone());
        shared.stats.lock().effect("v1/transactions.created");
        shared.webhooks.emit("v1/transactions.created", &record);
        json!({ "created": [id], "updated": updated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_named_ones_are_stable() {
        let id = uuid([0xab; 16]);
        assert_eq!(id, "abababab-abab-4bab-abab-abababababab");
        assert_eq!(organization_id("acc"), organization_id("acc"));
        assert_ne!(organization_id("acc"), organization_id("other"));
    }

    #[test]
    fn list_parameters_read_as_qonto_writes_them() {
        assert_eq!(Qonto.filter("filter[email]"), Filter::Equals("email".into()));
        assert_eq!(Qonto.filter("status[]"), Filter::Equals("status".into()));
        assert_eq!(Qonto.filter("updated_at_from"), Filter::From("updated_at".into()));
        assert_eq!(Qonto.filter("filter[due_date_to]"), Filter::To("due_date".into()));
        assert_eq!(Qonto.filter("includes[]"), Filter::Ignore);
    }
}
