//! Primitives of data: JSON in and out, and `all_at_once`, which runs `together` rows side by
//! side.

use super::{map_of, Args, Failure, Primitive, Shape, Ty};
use crate::host::json::{from_json, to_json};
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use rhai::{Dynamic, NativeCallContext};

fn to_json_text(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let value = to_json(&args.any(0), "value").map_err(|r| {
        Fail::error(
            ErrorCode::NotSerialisable,
            r.to_string(),
            "leave secrets out of what you serialise",
        )
    })?;
    Ok(crate::host::json::sorted(&value).to_string().into())
}

fn parse_json(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let text = args.str(0);
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| from_json(&v))
        .map_err(|e| Fail::error(ErrorCode::BadJson, format!("not valid JSON: {e}"), ""))
}

/// Runs several `together` primitives at once, each on its own thread (each waits on the host
/// runtime for its own calls): one row per call, in the order asked, `#{value, error}` with the
/// value, or the catchable error that stands instead of it, so one failure hides no other.
fn all_at_once(host: &Host, ctx: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let mut asked = Vec::new();
    for (i, item) in args.array(0).into_iter().enumerate() {
        asked.push(together_call(i, item));
    }
    // Whose error a row's is: the primitive asked, or all_at_once when the call was malformed.
    let names: Vec<&str> = asked
        .iter()
        .map(|call| call.as_ref().map_or("all_at_once", |(p, _)| p.name))
        .collect();
    let results: Vec<Outcome<Dynamic>> = std::thread::scope(|scope| {
        let running: Vec<_> = asked
            .into_iter()
            .map(|call| {
                scope.spawn(move || {
                    let (primitive, mut values) = call?;
                    let mut refs: Vec<&mut Dynamic> = values.iter_mut().collect();
                    let value = (primitive.call)(host, ctx, &mut Args::new(&mut refs))?;
                    super::kept_shape(primitive.name, primitive.shape, value)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(Fail::error(
                        ErrorCode::BadArgument,
                        "the call ended without an answer (a defect of m4host)",
                        "report it with the command that ran",
                    ))
                })
            })
            .collect()
    });
    let mut rows = rhai::Array::new();
    for (result, name) in results.into_iter().zip(names) {
        let (value, error) = match result {
            Ok(value) => (value, Dynamic::UNIT),
            // The same map a direct call's catch would see.
            Err(Fail::Error {
                code,
                message,
                help,
            }) => (
                Dynamic::UNIT,
                crate::script::rhai_error::error_map(host, code, &message, &help, name).into(),
            ),
            // A block or an engine error is the whole call's (no `together` row raises one).
            Err(other) => return Err(other),
        };
        rows.push(map_of([("value", value), ("error", error)]));
    }
    Ok(rows.into())
}

/// The row and arguments of call `i` of all_at_once, checked as registration checks a direct call.
fn together_call(i: usize, item: Dynamic) -> Outcome<(&'static Primitive, Vec<Dynamic>)> {
    let bad = |what: String| {
        Fail::error(
            ErrorCode::BadArgument,
            format!("all_at_once call {i}: {what}"),
            "give each call as #{ primitive: \"s3_probes\", args: [...] }, naming a primitive whose doc says it runs in all_at_once",
        )
    };
    let map = item
        .try_cast::<rhai::Map>()
        .ok_or_else(|| bad("not a map".into()))?;
    let name = map
        .get("primitive")
        .and_then(|v| v.clone().into_string().ok())
        .ok_or_else(|| bad("`primitive` must name one".into()))?;
    let values = match map.get("args") {
        None => Vec::new(),
        Some(v) => v
            .clone()
            .try_cast::<rhai::Array>()
            .ok_or_else(|| bad("`args` must be an array".into()))?,
    };
    let primitive = super::all()
        .find(|p| p.name == name)
        .ok_or_else(|| bad(format!("no primitive `{name}`")))?;
    if !primitive.together {
        return Err(bad(format!("`{name}` does not run beside others")));
    }
    if values.len() != primitive.params.len() {
        return Err(bad(format!(
            "{} takes {} argument(s), {} given",
            primitive.signature(),
            primitive.params.len(),
            values.len()
        )));
    }
    for ((param, ty), value) in primitive.params.iter().zip(&values) {
        if *ty != Ty::Any && value.type_id() != ty.type_id() {
            return Err(bad(format!(
                "{name}: `{param}` must be {}, not {}",
                ty.rhai_name(),
                value.type_name()
            )));
        }
    }
    Ok((primitive, values))
}

/// The rows of data.
pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "to_json",
        params: &[("value", Ty::Map)],
        returns: "String",
        shape: Shape::Value,
        doc: "to_json for a map. Declared for maps too so that it takes precedence over Rhai's \
              built-in map to_json, which would print a Secret as its type name.",
        example: "try { to_json(#{ s: ssm_secret(resolve_handle(\"SSM_CONFLUENT_API_SECRET_PATH\")) }) } catch (e) { print(e.code) }",
        example_exit: 0,
        example_prints: &["NOT_SERIALISABLE"],
        raises: &[ErrorCode::NotSerialisable],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: to_json_text,
    },
    Primitive {
        name: "to_json",
        params: &[("value", Ty::Any)],
        returns: "String",
        shape: Shape::Value,
        doc: "Compact JSON with sorted keys; raises NOT_SERIALISABLE for a Secret or a value with \
              no JSON form.",
        example: "print(to_json(#{ b: 1, a: [true, ()] }));",
        example_exit: 0,
        example_prints: &["{\"a\":[true,null],\"b\":1}"],
        raises: &[ErrorCode::NotSerialisable],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: to_json_text,
    },
    Primitive {
        name: "all_at_once",
        params: &[("calls", Ty::Array)],
        returns: "Array",
        shape: Shape::Value,
        doc: "Runs several primitives at once, inside the host: calls is [#{primitive: NAME, args: \
              [...]}], each a primitive whose doc says it runs in all_at_once (reads and \
              self-cleaning probes). Returns one #{value, error} per call, in the order asked: \
              the primitive's result, or the catchable error #{code, message, help, primitive} that stands \
              instead of it, so one failure hides no other. The way to ask many independent \
              things in one round trip (a phase's probes of S3, logs, Kafka and the database).",
        example: "let r = all_at_once([#{ primitive: \"ssm_prefetch\", args: [[\"/fraud-platform/dev_min/confluent/bootstrap\"]] },\n                      #{ primitive: \"ssm_prefetch\", args: [[\"/no/such/parameter\"]] },\n                      #{ primitive: \"emit_snapshot\", args: [\"x\", #{}] }]);\nprint(`${r[0].value.outcome} ${r[1].value.outcome} ${r[2].error.code}`);",
        example_exit: 0,
        example_prints: &["pass fail BAD_ARGUMENT"],
        raises: &[],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: all_at_once,
    },
    Primitive {
        name: "parse_json",
        params: &[("text", Ty::Str)],
        returns: "?",
        shape: Shape::Value,
        doc: "Parses JSON text into maps, arrays and scalars; raises BAD_JSON.",
        example: "print(parse_json(\"{\\\"a\\\": [1, 2]}\").a[1]);",
        example_exit: 0,
        example_prints: &["2"],
        raises: &[ErrorCode::BadJson],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: parse_json,
    },
];
