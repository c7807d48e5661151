//! The sandbox's data: companies, locations (sub-accounts) and their contacts, tasks, notes and
//! appointments, held in memory behind one lock. Pure bookkeeping: no HTTP, no webhooks.

use std::collections::{BTreeSet, HashMap};

use ghl_types::{CalendarEvent, Contact, Note, Task};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::clock::new_id;
use crate::oauth::Grants;
use crate::stats::Stats;

pub struct World {
    pub company_id: String,
    pub locations: HashMap<String, Location>,
    pub grants: Grants,
    pub stats: Stats,
    pub rng: ChaCha8Rng,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self {
            company_id: new_id(&mut rng),
            locations: HashMap::new(),
            grants: Grants::default(),
            stats: Stats::default(),
            rng,
        }
    }

    pub fn new_id(&mut self) -> String {
        new_id(&mut self.rng)
    }

    pub fn location_mut(&mut self, location_id: &str) -> Option<&mut Location> {
        self.locations.get_mut(location_id)
    }
}

/// A calendar appointments are booked in.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    pub id: String,
    pub group_id: String,
    pub name: String,
}

/// A custom field a location defines; contacts reference it by `id` or `key`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomFieldDefinition {
    pub id: String,
    pub key: String,
    pub name: String,
}

/// A contact with what hangs off it.
#[derive(Debug, Clone, Default)]
pub struct StoredContact {
    pub contact: Contact,
    pub tasks: Vec<Task>,
    pub notes: Vec<Note>,
    pub appointment_ids: Vec<String>,
    pub campaigns: BTreeSet<String>,
    pub workflows: BTreeSet<String>,
    /// Fields the API accepts but never returns (`keyword`, `ssn`); the admin API shows them.
    pub unlisted: serde_json::Map<String, serde_json::Value>,
}

pub struct Location {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub allow_duplicates: bool,
    pub private_integration_token: String,
    pub users: Vec<String>,
    pub calendars: Vec<Calendar>,
    pub campaigns: Vec<String>,
    pub workflows: Vec<String>,
    pub custom_fields: Vec<CustomFieldDefinition>,
    /// Boxed, so that growing the map moves pointers, not whole contacts, under the lock.
    contacts: HashMap<String, Box<StoredContact>>,
    /// (dateAdded in ms, id): the order of `GET /contacts/` and its keyset paging.
    by_date_added: BTreeSet<(i64, String)>,
    /// Contact ids per lower-cased email and per phone digits, oldest first (usually one).
    by_email: HashMap<String, Vec<String>>,
    by_phone: HashMap<String, Vec<String>>,
    pub appointments: HashMap<String, CalendarEvent>,
}

/// Which field matched when a location refuses a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Email,
    Phone,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

/// Phones match on their digits alone: `+1 (555) 010-0000` is `+15550100000`.
pub fn phone_key(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

impl Location {
    pub fn new(id: String, company_id: String, name: String, token: String) -> Self {
        Self {
            id,
            company_id,
            name,
            allow_duplicates: false,
            private_integration_token: token,
            users: Vec::new(),
            calendars: Vec::new(),
            campaigns: Vec::new(),
            workflows: Vec::new(),
            custom_fields: Vec::new(),
            contacts: HashMap::new(),
            by_date_added: BTreeSet::new(),
            by_email: HashMap::new(),
            by_phone: HashMap::new(),
            appointments: HashMap::new(),
        }
    }

    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    pub fn contact(&self, id: &str) -> Option<&StoredContact> {
        self.contacts.get(id).map(Box::as_ref)
    }

    pub fn contacts(&self) -> impl Iterator<Item = &StoredContact> {
        self.contacts.values().map(Box::as_ref)
    }

    /// Contacts in `dateAdded` order, strictly after the keyset position when one is given.
    pub fn contacts_by_date_added(
        &self,
        after: Option<(i64, String)>,
    ) -> impl Iterator<Item = &StoredContact> {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = match after {
            Some(position) => Excluded(position),
            None => Unbounded,
        };
        self.by_date_added
            .range((lower, Unbounded))
            .filter_map(|(_, id)| self.contacts.get(id).map(Box::as_ref))
    }

    /// Contacts in `dateAdded` order up to and including the keyset position.
    pub fn contacts_up_to<'a>(
        &'a self,
        position: &(i64, String),
    ) -> impl Iterator<Item = &'a StoredContact> + 'a {
        use std::ops::Bound::{Included, Unbounded};
        self.by_date_added
            .range::<(i64, String), _>((Unbounded, Included(position)))
            .filter_map(|(_, id)| self.contacts.get(id).map(Box::as_ref))
    }

    /// Inserts or replaces a contact, keeping the indexes true.
    pub fn put_contact(&mut self, stored: StoredContact) {
        let id = stored.contact.id.clone();
        if let Some(old) = self.contacts.remove(&id) {
            self.unindex(&old.contact);
        }
        self.index(&stored.contact);
        self.contacts.insert(id, Box::new(stored));
    }

    pub fn remove_contact(&mut self, id: &str) -> Option<StoredContact> {
        let removed = *self.contacts.remove(id)?;
        self.unindex(&removed.contact);
        for appointment in &removed.appointment_ids {
            self.appointments.remove(appointment);
        }
        Some(removed)
    }

    /// Changes a contact in place through `change`, keeping the indexes true.
    pub fn update_contact<R>(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut StoredContact) -> R,
    ) -> Option<R> {
        let mut stored = self.contacts.remove(id)?;
        self.unindex(&stored.contact);
        let result = change(&mut stored);
        self.index(&stored.contact);
        self.contacts.insert(id.to_owned(), stored);
        Some(result)
    }

    /// The first contact (other than `except`) with this email, then with this phone:
    /// the location's duplicate rule order.
    pub fn find_duplicate(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
        except: Option<&str>,
    ) -> Option<(&StoredContact, MatchedBy)> {
        let first_other = |ids: Option<&Vec<String>>| {
            ids?.iter()
                .find(|id| Some(id.as_str()) != except)
                .and_then(|id| self.contacts.get(id).map(Box::as_ref))
        };
        if let Some(email) = email.filter(|email| !email.is_empty()) {
            if let Some(found) = first_other(self.by_email.get(&email.to_lowercase())) {
                return Some((found, MatchedBy::Email));
            }
        }
        if let Some(phone) = phone.map(phone_key).filter(|key| !key.is_empty()) {
            if let Some(found) = first_other(self.by_phone.get(&phone)) {
                return Some((found, MatchedBy::Phone));
            }
        }
        None
    }

    pub fn date_added_key(contact: &Contact) -> (i64, String) {
        let millis =
            contact.date_added.as_deref().and_then(crate::clock::parse_millis).unwrap_or(0);
        (millis, contact.id.clone())
    }

    fn index(&mut self, contact: &Contact) {
        self.by_date_added.insert(Self::date_added_key(contact));
        if let Some(email) = contact.email.as_deref().filter(|email| !email.is_empty()) {
            self.by_email.entry(email.to_lowercase()).or_default().push(contact.id.clone());
        }
        if let Some(phone) = contact.phone.as_deref().map(phone_key).filter(|k| !k.is_empty()) {
            self.by_phone.entry(phone).or_default().push(contact.id.clone());
        }
    }

    fn unindex(&mut self, contact: &Contact) {
        self.by_date_added.remove(&Self::date_added_key(contact));
        if let Some(email) = contact.email.as_deref() {
            remove_from(&mut self.by_email, &email.to_lowercase(), &contact.id);
        }
        if let Some(phone) = contact.phone.as_deref() {
            remove_from(&mut self.by_phone, &phone_key(phone), &contact.id);
        }
    }
}

fn remove_from(index: &mut HashMap<String, Vec<String>>, key: &str, id: &str) {
    if let Some(ids) = index.get_mut(key) {
        ids.retain(|known| known != id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}
