//! The shared document model: RFC 7386 merge patch, compare-and-set, and properties of `apply`.

#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use resocket::doc::{apply, merge_patch, Change, Doc, Op, Rejection};
use serde_json::{json, Value};

#[test]
fn merge_patch_matches_the_rfc_7386_examples() {
    let cases = [
        (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
        (json!({"a":"b"}), json!({"a":null}), json!({})),
        (
            json!({"a":"b","b":"c"}),
            json!({"a":null}),
            json!({"b":"c"}),
        ),
        (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
        (
            json!({"a":{"b":"c"}}),
            json!({"a":{"b":"d","c":null}}),
            json!({"a":{"b":"d"}}),
        ),
        (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a":"b"}), json!(["c"]), json!(["c"])),
        (json!({"a":"foo"}), json!(null), json!(null)),
        (json!({"a":"foo"}), json!("bar"), json!("bar")),
        (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
        (
            json!({}),
            json!({"a":{"bb":{"ccc":null}}}),
            json!({"a":{"bb":{}}}),
        ),
    ];
    for (target, patch, expected) in cases {
        assert_eq!(merge_patch(&target, &patch), expected, "{target} + {patch}");
    }
}

fn op(key: &str, change: Change<Value>, if_rev: Option<u64>) -> Op<Value> {
    Op {
        key: key.into(),
        change,
        if_rev,
    }
}

#[test]
fn revisions_and_compare_and_set() {
    let mut doc = Doc::<Value>::new();
    assert_eq!(
        apply(&mut doc, &op("a", Change::Set(json!(1)), Some(0))),
        Ok(1)
    );
    assert_eq!(
        apply(&mut doc, &op("b", Change::Merge(json!({"x":1})), None)),
        Ok(2)
    );
    assert_eq!(doc.key_rev("a"), 1);
    let before = doc.clone();
    assert_eq!(
        apply(&mut doc, &op("a", Change::Set(json!(2)), Some(0))),
        Err(Rejection::Conflict {
            expected: 0,
            actual: 1
        })
    );
    assert_eq!(doc, before, "a rejected op leaves no trace");
    assert_eq!(apply(&mut doc, &op("a", Change::Delete, Some(1))), Ok(3));
    assert_eq!(doc.get("a"), None);
    assert_eq!(
        doc.key_rev("a"),
        0,
        "a deleted key can be created again with ifRev 0"
    );
    assert_eq!(doc.rev, 3);
    assert_eq!(doc.get("b"), Some(&json!({"x":1})));
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-c]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_op() -> impl Strategy<Value = Op<Value>> {
    let change = prop_oneof![
        value().prop_map(Change::Set),
        Just(Change::Delete),
        value().prop_map(Change::Merge),
    ];
    ("[k-m]", change, prop::option::of(0u64..6)).prop_map(|(key, change, if_rev)| Op {
        key,
        change,
        if_rev,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Replicas applying the same ops in the same order agree; rejected ops change nothing; a
    /// snapshot taken at any point plus the ops after it equals the document.
    #[test]
    fn apply_is_deterministic_and_snapshots_compose(
        ops in prop::collection::vec(any_op(), 0..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(ops.len() + 1);
        let (mut a, mut b) = (Doc::<Value>::new(), Doc::<Value>::new());
        let mut snapshot = None;
        let mut applied = 0;
        for (i, op) in ops.iter().enumerate() {
            if i == cut { snapshot = Some(a.clone()); }
            let before = a.clone();
            let result = apply(&mut a, op);
            prop_assert_eq!(&result, &apply(&mut b, op));
            match result {
                Ok(rev) => { applied += 1; prop_assert_eq!(rev, applied); prop_assert_eq!(a.key_rev(&op.key) == rev, !matches!(op.change, Change::Delete)); }
                Err(_) => prop_assert_eq!(&a, &before),
            }
        }
        let mut rebuilt = snapshot.unwrap_or_else(|| a.clone());
        for op in &ops[cut.min(ops.len())..] {
            let _ = apply(&mut rebuilt, op);
        }
        prop_assert_eq!(&rebuilt, &a);
        prop_assert_eq!(&a, &b);
    }

    /// Merge patch is idempotent: applying the same patch twice equals applying it once.
    #[test]
    fn merge_patch_is_idempotent(target in value(), patch in value()) {
        let once = merge_patch(&target, &patch);
        prop_assert_eq!(merge_patch(&once, &patch), once);
    }
}
