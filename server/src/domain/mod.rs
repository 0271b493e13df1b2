//! Business rules, one module per concept. Domain code knows nothing of HTTP: it takes a tenant [`Scope`] and a
//! command, checks the rules, writes through the store, appends the events it causes, and answers a
//! [`DomainError`] when it refuses.
//!
//! [`Scope`]: crate::store::Scope

pub mod identity_providers;
pub mod organisations;
pub mod participants;

use crate::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON path of the offending field, e.g. `email` or `languages[2]`.
    #[schema(example = "email")]
    pub field: String,
    /// A stable machine-readable reason.
    #[schema(example = "invalid_format")]
    pub code: String,
    /// A human-readable explanation.
    #[schema(example = "is not a valid email address")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The resource does not exist in this organisation (which is all another organisation's resources look like).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The change collides with existing state, e.g. a unique email.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The caller's `If-Match` no longer matches the resource.
    #[error("the resource has changed since it was read")]
    PreconditionFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type DomainResult<T> = Result<T, DomainError>;

/// Collects field errors so a caller learns about every bad field at once, not one per round trip.
#[derive(Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> DomainResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
