//! Typed errors as JS values: `Error` objects with a stable `code` (see `ClientError::code`).

use crate::core::{ClientError, ConfigError};
use wasm_bindgen::prelude::*;

pub fn client_error(error: &ClientError) -> JsValue {
    named_error(error.code(), &error.message())
}

pub fn config_error(error: &ConfigError) -> JsValue {
    named_error("InvalidOptions", &error.message())
}

pub fn named_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("ResocketError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}
