//! Why the state refused an operation: the one error type of the state layer.

use super::docs::{MAX_DOCS, MAX_KEY};
use super::names::MAX_NAME;
use super::rooms::MAX_ROOMS;
use resocket::protocol::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("room names must be 1 to {MAX_NAME} bytes")]
    BadRoomName,
    #[error("document names (room) must be 1 to {MAX_NAME} bytes")]
    BadDocName,
    #[error("not a member of room {0:?}; join it first")]
    NotMember(String),
    #[error("document keys must be 1 to {MAX_KEY} bytes")]
    BadKey,
    #[error("the server holds at most {MAX_ROOMS} rooms")]
    TooManyRooms,
    #[error("the server holds at most {MAX_DOCS} documents")]
    TooManyDocs,
    /// A remote engine's store could not be reached or answered wrongly; the operation may or
    /// may not have taken effect.
    #[error("shared state unavailable: {0}")]
    Unavailable(String),
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::BadRoomName | EngineError::BadDocName | EngineError::BadKey => {
                ErrorCode::BadRequest
            }
            EngineError::NotMember(_) => ErrorCode::Forbidden,
            EngineError::TooManyRooms | EngineError::TooManyDocs => ErrorCode::RateLimited,
            EngineError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    /// The `error` of the frame that tells the client.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}
