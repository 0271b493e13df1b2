//! The document column: tables of the programme lifecycle keep each resource whole as JSON in `doc`, next to the
//! columns queries need. These helpers turn a resource into its document and back.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::{StoreError, StoreResult};

pub fn encode<T: Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(format!("cannot encode a document: {e}")))
}

pub fn decode<T: DeserializeOwned>(what: &str, id: Uuid, doc: Value) -> StoreResult<T> {
    serde_json::from_value(doc).map_err(|e| StoreError::Corrupt(format!("{what} {id}: {e}")))
}
