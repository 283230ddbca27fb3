//! Why a request method or a control endpoint failed: the one error type of the application
//! layer. A method's error becomes the `error` of its `res`; a control endpoint's becomes an
//! HTTP status and a one-line text body.

use crate::state::EngineError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use resocket::protocol::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The method name, already shortened for quoting.
    #[error("no method {0:?}")]
    NoMethod(String),
    #[error("no document {0:?}")]
    NoDocument(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    RateLimited(String),
    /// A re-sent request id older than the session's reply cache holds.
    #[error("request {0} is older than the replies this session still holds; it may have run and is not run again")]
    Expired(u64),
    /// What `fail` was asked to fail with.
    #[error("{message}")]
    Failed { code: ErrorCode, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::NoMethod(_) | AppError::NoDocument(_) => ErrorCode::NotFound,
            AppError::BadRequest(_) => ErrorCode::BadRequest,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::Expired(_) => ErrorCode::Expired,
            AppError::Failed { code, .. } => *code,
            AppError::Engine(err) => err.code(),
        }
    }

    /// The `error` of a failed `res`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }

    fn status(&self) -> StatusCode {
        match self.code() {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (AppError::NoMethod("x".into()), StatusCode::NOT_FOUND),
            (AppError::NoDocument("d".into()), StatusCode::NOT_FOUND),
            (AppError::BadRequest("b".into()), StatusCode::BAD_REQUEST),
            (
                AppError::RateLimited("r".into()),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                EngineError::TooManyRooms.into(),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (EngineError::BadDocName.into(), StatusCode::BAD_REQUEST),
        ];
        for (err, status) in cases {
            assert_eq!(err.status(), status, "{err}");
        }
        assert_eq!(
            AppError::NoMethod("x".into()).to_string(),
            r#"no method "x""#
        );
        assert_eq!(
            AppError::from(EngineError::BadDocName).body().message,
            EngineError::BadDocName.to_string()
        );
    }
}
