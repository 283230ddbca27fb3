//! The test server's request methods: `echo`, `sum`, `sleep`, `fail` and `count`. Each turns
//! `params` into a result or a typed [`AppError`]; `sleep` only says how long to wait, the
//! caller does the waiting. (The demo's `order` is the app backend's: `examples/backend/`.)

use super::error::AppError;
use crate::lock::Locked;
use resocket::protocol::json::raw_payload;
use resocket::protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Number;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Longest `sleep` accepted.
pub const MAX_SLEEP_MS: u64 = 60_000;
/// Longest `count` key accepted, in bytes.
pub const MAX_COUNTER_KEY: usize = 256;
/// Most distinct `count` keys the server keeps.
pub const MAX_COUNTERS: usize = 10_000;
/// Longest method name quoted back in a `not_found` error.
const MAX_QUOTED_METHOD: usize = 64;

/// The demo methods: they answer only in demo mode (`--demo`).
pub const DEMO_METHODS: [&str; 5] = ["echo", "sum", "sleep", "fail", "count"];

/// The `not_found` answer for a method nothing handles.
pub fn no_method(method: &str) -> AppError {
    AppError::NoMethod(crate::protocol::dispatch::truncate(method, MAX_QUOTED_METHOD).to_owned())
}

/// What a method answers: the result of its `res`, or its error.
pub type MethodResult = Result<Box<RawValue>, AppError>;

/// What running a method amounts to.
#[derive(Debug)]
pub enum Plan {
    /// The reply is ready.
    Reply(MethodResult),
    /// The handler ran; send its outcome after this long (without blocking the connection).
    Later {
        after: Duration,
        outcome: MethodResult,
    },
}

/// What the methods keep between requests, server-wide.
#[derive(Debug, Default)]
pub struct MethodState {
    counters: Counters,
}

/// Server-wide counters of the `count` method.
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<String, u64>>);

impl Counters {
    /// Increments `key` and returns its new value.
    pub fn increment(&self, key: &str) -> Result<u64, AppError> {
        let mut counters = self.0.locked();
        if !counters.contains_key(key) && counters.len() >= MAX_COUNTERS {
            return Err(AppError::RateLimited(format!(
                "the server keeps at most {MAX_COUNTERS} counters"
            )));
        }
        let value = counters.entry(key.to_owned()).or_insert(0);
        *value = value.saturating_add(1);
        Ok(*value)
    }
}

/// Runs `method` with `params`.
pub fn plan(method: &str, params: Option<&RawValue>, state: &MethodState) -> Plan {
    match method {
        "echo" => Plan::Reply(Ok(params
            .map(ToOwned::to_owned)
            .unwrap_or_else(|| RawValue::NULL.to_owned()))),
        "sum" => Plan::Reply(sum(params)),
        "sleep" => match sleep_ms(params) {
            Ok(ms) => {
                let after = Duration::from_millis(ms);
                Plan::Later {
                    after,
                    outcome: Ok(slept(after)),
                }
            }
            Err(err) => Plan::Reply(Err(err)),
        },
        "fail" => Plan::Reply(fail(params)),
        "count" => count(params, &state.counters),
        _ => Plan::Reply(Err(no_method(method))),
    }
}

/// The result of `sleep` once the time is up: `{"slept":ms}`.
pub fn slept(duration: Duration) -> Box<RawValue> {
    #[derive(serde::Serialize)]
    struct Slept {
        slept: u128,
    }
    raw_payload(&Slept {
        slept: duration.as_millis(),
    })
}

fn parse<T: DeserializeOwned>(params: Option<&RawValue>, shape: &str) -> Result<T, AppError> {
    let text = params.map_or("null", RawValue::get);
    serde_json::from_str(text)
        .map_err(|err| AppError::BadRequest(format!("params must be {shape} ({err})")))
}

fn sum(params: Option<&RawValue>) -> MethodResult {
    let numbers: Vec<Number> = parse(params, "an array of numbers")?;
    let integers: Option<i64> = numbers
        .iter()
        .try_fold(0i64, |acc, n| n.as_i64().and_then(|n| acc.checked_add(n)));
    let total = match integers {
        Some(total) => Number::from(total),
        None => {
            let total: f64 = numbers.iter().filter_map(Number::as_f64).sum();
            Number::from_f64(total)
                .ok_or_else(|| AppError::BadRequest("the sum is not a finite number".into()))?
        }
    };
    Ok(raw_payload(&total))
}

fn sleep_ms(params: Option<&RawValue>) -> Result<u64, AppError> {
    #[derive(Deserialize)]
    struct Params {
        ms: u64,
    }
    let Params { ms } = parse(params, r#"{"ms":<integer>}"#)?;
    if ms > MAX_SLEEP_MS {
        return Err(AppError::BadRequest(format!(
            "ms must be at most {MAX_SLEEP_MS}"
        )));
    }
    Ok(ms)
}

fn fail(params: Option<&RawValue>) -> MethodResult {
    #[derive(Deserialize)]
    struct Params {
        code: String,
        #[serde(default)]
        message: Option<String>,
    }
    let Params { code, message } = parse(params, r#"{"code":<string>,"message"?:<string>}"#)?;
    Err(AppError::Failed {
        code: ErrorCode::from_wire(&code),
        message: message.unwrap_or_else(|| "failed on request".into()),
    })
}

/// Increments counter `key` now; with `delay_ms`, the reply waits that long, so a test can drop
/// the connection while the request is in flight and see it de-duplicated on resend.
fn count(params: Option<&RawValue>, counters: &Counters) -> Plan {
    #[derive(Deserialize)]
    struct Params {
        key: String,
        #[serde(default)]
        delay_ms: u64,
    }
    let Params { key, delay_ms } = match parse(params, r#"{"key":<string>,"delay_ms"?:<integer>}"#)
    {
        Ok(p) => p,
        Err(err) => return Plan::Reply(Err(err)),
    };
    if key.len() > MAX_COUNTER_KEY {
        return Plan::Reply(Err(AppError::BadRequest(format!(
            "key must be at most {MAX_COUNTER_KEY} bytes"
        ))));
    }
    if delay_ms > MAX_SLEEP_MS {
        return Plan::Reply(Err(AppError::BadRequest(format!(
            "delay_ms must be at most {MAX_SLEEP_MS}"
        ))));
    }
    let outcome = counters.increment(&key).map(|n| raw_payload(&n));
    if delay_ms == 0 {
        Plan::Reply(outcome)
    } else {
        Plan::Later {
            after: Duration::from_millis(delay_ms),
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, params: Option<&str>) -> Result<String, AppError> {
        run_with(method, params, &MethodState::default())
    }

    fn run_with(
        method: &str,
        params: Option<&str>,
        state: &MethodState,
    ) -> Result<String, AppError> {
        let params = params.map(|p| RawValue::from_string(p.to_owned()).expect("valid JSON"));
        match plan(method, params.as_deref(), state) {
            Plan::Reply(outcome) => outcome.map(|raw| raw.get().to_owned()),
            Plan::Later { after, outcome } => {
                outcome.map(|raw| format!("after {} ms: {}", after.as_millis(), raw.get()))
            }
        }
    }

    fn code(result: Result<String, AppError>) -> ErrorCode {
        result.expect_err("an error").code()
    }

    #[test]
    fn echo_returns_params_verbatim() {
        assert_eq!(
            run("echo", Some(r#"{"a": [1, 2.50]}"#)),
            Ok(r#"{"a": [1, 2.50]}"#.into())
        );
        assert_eq!(run("echo", None), Ok("null".into()));
    }

    #[test]
    fn sum_adds_integers_exactly_and_falls_back_to_floats() {
        assert_eq!(run("sum", Some("[1,2,3]")), Ok("6".into()));
        assert_eq!(run("sum", Some("[]")), Ok("0".into()));
        assert_eq!(run("sum", Some("[1.5,2]")), Ok("3.5".into()));
        assert_eq!(run("sum", Some("[-4,1]")), Ok("-3".into()));
        // i64 overflow falls back to a float.
        assert_eq!(
            run("sum", Some("[9223372036854775807,1]")),
            Ok("9.223372036854776e+18".into())
        );
        assert_eq!(
            code(run("sum", Some("[1e308,1e308]"))),
            ErrorCode::BadRequest
        );
        for bad in [None, Some(r#"["1"]"#), Some("{}"), Some("3")] {
            assert_eq!(code(run("sum", bad)), ErrorCode::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn sleep_is_bounded() {
        assert_eq!(
            run("sleep", Some(r#"{"ms":25}"#)),
            Ok(r#"after 25 ms: {"slept":25}"#.into())
        );
        assert_eq!(
            run("sleep", Some(r#"{"ms":60000}"#)),
            Ok(r#"after 60000 ms: {"slept":60000}"#.into())
        );
        for bad in [
            None,
            Some(r#"{"ms":60001}"#),
            Some(r#"{"ms":-1}"#),
            Some(r#"{"ms":"5"}"#),
        ] {
            assert_eq!(code(run("sleep", bad)), ErrorCode::BadRequest, "{bad:?}");
        }
        assert_eq!(slept(Duration::from_millis(25)).get(), r#"{"slept":25}"#);
    }

    #[test]
    fn fail_fails_as_asked() {
        assert_eq!(
            run("fail", Some(r#"{"code":"internal","message":"boom"}"#)),
            Err(AppError::Failed {
                code: ErrorCode::Internal,
                message: "boom".into()
            })
        );
        let body = run("fail", Some(r#"{"code":"teapot"}"#))
            .expect_err("fails")
            .body();
        assert_eq!(body.code, ErrorCode::Other);
        assert_eq!(body.message, "failed on request");
        assert_eq!(code(run("fail", Some("{}"))), ErrorCode::BadRequest);
    }

    #[test]
    fn count_increments_server_wide_counters() {
        let state = MethodState::default();
        let key = Some(r#"{"key":"k"}"#);
        assert_eq!(run_with("count", key, &state), Ok("1".into()));
        assert_eq!(run_with("count", key, &state), Ok("2".into()));
        // With a delay the counter moves at once and only the reply waits.
        let delayed = Some(r#"{"key":"k","delay_ms":300}"#);
        assert_eq!(
            run_with("count", delayed, &state),
            Ok("after 300 ms: 3".into())
        );
        assert_eq!(run_with("count", key, &state), Ok("4".into()));
        assert_eq!(
            run_with("count", Some(r#"{"key":"j"}"#), &state),
            Ok("1".into())
        );
        assert_eq!(
            code(run_with("count", Some("[]"), &state)),
            ErrorCode::BadRequest
        );
        let long = format!(r#"{{"key":"{}"}}"#, "x".repeat(MAX_COUNTER_KEY + 1));
        assert_eq!(
            code(run_with("count", Some(&long), &state)),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn counters_are_bounded() {
        let counters = Counters::default();
        for i in 0..MAX_COUNTERS {
            assert!(counters.increment(&i.to_string()).is_ok());
        }
        assert!(matches!(
            counters.increment("one more"),
            Err(AppError::RateLimited(_))
        ));
        assert_eq!(counters.increment("0"), Ok(2), "existing keys still count");
    }

    #[test]
    fn unknown_methods_are_not_found() {
        let err = run("nope", None).expect_err("not found");
        assert_eq!(err.body().message, r#"no method "nope""#);
        assert_eq!(err.code(), ErrorCode::NotFound);
        let long = "m".repeat(500);
        assert!(run(&long, None).expect_err("not found").to_string().len() < 100);
    }
}
