//! Why a client frame (or the opening `hello`) was refused: the one error type of the protocol
//! layer. Frame errors are answered with an `error` frame, `hello` errors close the connection.

use resocket::protocol::{close_code, ErrorBody, ErrorCode, PROTOCOL_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not a JSON envelope.
    #[error("{0}")]
    BadFrame(String),
    #[error("binary frames are not supported")]
    Binary,
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// The kind name, already shortened for quoting.
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    /// A kind this side of the connection never receives (or not now).
    #[error("{0}")]
    Unexpected(String),
    /// A known kind whose fields or payload are invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The first frame is not a valid v1 `hello`.
    #[error("{0}")]
    BadHello(String),
    #[error("unsupported protocol version {0}; this server speaks {PROTOCOL_VERSION}")]
    UnsupportedVersion(u32),
}

impl ProtocolError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::BadFrame(_) | ProtocolError::Binary => ErrorCode::BadFrame,
            ProtocolError::TooLarge { .. } => ErrorCode::TooLarge,
            ProtocolError::UnknownKind(_) => ErrorCode::UnknownKind,
            ProtocolError::Unexpected(_) => ErrorCode::Unexpected,
            ProtocolError::BadRequest(_) => ErrorCode::BadRequest,
            ProtocolError::BadHello(_) | ProtocolError::UnsupportedVersion(_) => {
                ErrorCode::Unexpected
            }
        }
    }

    /// The `error` of the frame that answers a refused frame.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }

    /// The close code for a refused `hello`.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::UnsupportedVersion(_) => close_code::UNSUPPORTED_VERSION,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}
