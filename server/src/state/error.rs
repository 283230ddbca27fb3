//! Why the state refused an operation: the one error type of the state layer.

use super::docs::MAX_KEY;
use super::names::MAX_NAME;
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
    #[error("every room the server can hold has members; try again later")]
    TooManyRooms,
    #[error("every document the server can hold has subscribers; try again later")]
    TooManyDocs,
    /// Over a byte or count budget of the state (a room's history, a document).
    #[error("{0}")]
    TooLarge(String),
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
            EngineError::TooLarge(_) => ErrorCode::TooLarge,
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
