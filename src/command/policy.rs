//! `m4host policy SCRIPT --env FILE [--plan-only]`: the least-privilege IAM policy for running a
//! runbook. The actions are those of every primitive the script and its imports can call (found
//! statically, `script::calls`), as their table rows state them; the resources are what the
//! environment's handles resolve to (`rules::permissions` builds the document).
//!
//! Lookups: handles from terraform outputs and literals are read from files; a non-secret handle
//! whose origin is SSM is read from SSM (the only AWS calls this makes, said on stderr). A secret
//! handle is never read: its parameter's name is its reference.

use crate::command::cli::PolicyArgs;
use crate::config::registry::{HandlesRegistry, Origin, ResourceKind};
use crate::config::{Config, Location};
use crate::error::{Error, Result};
use crate::host::handles::Resolution;
use crate::host::{Host, Mode};
use crate::rules::permissions::{self, Access, Resources};
use crate::script::calls::Calls;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn run(args: PolicyArgs) -> Result<i32> {
    if let Some(account) = &args.account {
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::usage(
                "--account is not an AWS account id",
                "give the 12 digits of the account the runbook runs in",
            ));
        }
    }
    let config = crate::command::run::load_env(&args.env)?.ok_or_else(|| {
        Error::usage(
            "no environment file",
            "pass --env FILE: the policy's resources are what its handles resolve to",
        )
    })?;
    let host = Arc::new(Host::new(
        None,
        Mode {
            plan: true,
            ..Mode::default()
        },
        BTreeMap::new(),
        None,
    )?);
    let engine =
        crate::script::engine::build(&host, &crate::script::resolver::script_root(&args.script));
    crate::command::run::compile(&engine, &args.script)?;
    let calls = crate::script::calls::of_script(&engine, &args.script);
    if !calls.problems.is_empty() {
        return Err(Error::Script {
            path: args.script.clone(),
            what: format!(
                "cannot find every call, so a policy would be short: {}",
                calls.problems.join("; ")
            ),
            help: "fix what `m4host check` reports first".to_owned(),
        });
    }
    let accesses = accesses(&calls, &config.registry);
    let resources = resources_of(config, args.account.clone())?;
    if resources.account.is_none() {
        crate::out::err_line(
            "note: no handle is an ARN naming the account and --account was not given: ARNs say `*` for it",
        );
    }
    let (document, left_out) = permissions::policy(&accesses, &resources, args.plan_only);
    for u in &left_out {
        crate::out::err_line(&format!(
            "not granted: {} — the handles name no {}; declare it in the registry (kind = ...) or the run is denied there",
            u.actions.join(", "),
            u.needs
        ));
    }
    crate::out::line(&render(&document));
    Ok(if left_out.is_empty() { 0 } else { 1 })
}

/// The document as IAM's examples write it: Version first, each statement Sid, Effect, Action,
/// Resource, Condition (serde_json's maps sort their keys).
fn render(document: &Value) -> String {
    const ORDER: [&str; 5] = ["Sid", "Effect", "Action", "Resource", "Condition"];
    let indent = |v: &Value, by: &str| {
        serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .replace('\n', &format!("\n{by}"))
    };
    let statements: Vec<String> = document["Statement"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let fields: Vec<String> = ORDER
                .iter()
                .filter_map(|k| {
                    s.get(*k)
                        .map(|v| format!("      \"{k}\": {}", indent(v, "      ")))
                })
                .collect();
            format!("    {{\n{}\n    }}", fields.join(",\n"))
        })
        .collect();
    format!(
        "{{\n  \"Version\": {},\n  \"Statement\": [\n{}\n  ]\n}}",
        document["Version"],
        statements.join(",\n")
    )
}

/// What a runbook may send: the accesses of every primitive it and its imports call and, where a
/// handle's origin is SSM, the read that resolves it. Any phase may resolve a handle (the
/// evidence bucket's at every publication), whichever primitive asked.
pub fn accesses(calls: &Calls, registry: &HandlesRegistry) -> Vec<Access> {
    let mut out: Vec<Access> = calls
        .primitives()
        .iter()
        .flat_map(|p| p.aws.iter().copied())
        .collect();
    if registry
        .entries
        .values()
        .any(|e| e.origin == Origin::SsmParameter)
    {
        out.push(permissions::SSM_GET_PARAMETERS);
    }
    out
}

/// The resources the environment's handles resolve to, by their declared kind or, for an ARN,
/// by what the ARN says it is.
fn resources_of(config: Config, account: Option<String>) -> Result<Resources> {
    let env_file = config.env_file.clone();
    let mut r = Resources {
        region: config.region.clone(),
        account,
        evidence_prefix: crate::rules::execution_id::control_root(&config.evidence.environment),
        ..Resources::default()
    };
    if let Some((verdict, handoff)) = &config.entry {
        for location in [verdict, handoff] {
            if let Location::S3 { bucket, key } = location {
                r.entry_objects.insert(format!("{bucket}/{key}"));
            }
        }
    }
    let registry = config.registry.entries.clone();
    let evidence_handle = config.evidence.bucket_handle.clone();
    // A secret handle is never read; an SSM-origin one names its parameter by its reference.
    for entry in registry.values() {
        if entry.origin == Origin::SsmParameter {
            r.parameters.insert(entry.reference.clone());
        }
    }
    let keys: Vec<String> = registry
        .iter()
        .filter(|(_, e)| !e.secret)
        .map(|(k, _)| k.clone())
        .collect();
    let from_ssm: Vec<&str> = registry
        .iter()
        .filter(|(_, e)| !e.secret && e.origin == Origin::SsmParameter)
        .map(|(k, _)| k.as_str())
        .collect();
    if !from_ssm.is_empty() {
        crate::out::err_line(&format!(
            "reading {} non-secret handle(s) from SSM (ssm:GetParameters): {}",
            from_ssm.len(),
            from_ssm.join(", ")
        ));
    }
    let plan = Mode {
        plan: true,
        ..Mode::default()
    };
    let host = Host::new(Some(config), plan, BTreeMap::new(), None)?;
    let resolved = host.resolve(&keys).map_err(|f| Error::config(
        &env_file,
        format!(
            "cannot resolve the handles: {}",
            match f {
                crate::host::Fail::Error { message, .. } => message,
                other => format!("{other:?}"),
            }
        ),
        "the policy's resources are what the handles resolve to; fix what `m4host run` would report",
    ))?;
    let mut problems = Vec::new();
    for (key, resolution) in resolved {
        let entry = &registry[&key];
        let value = match resolution {
            Resolution::Resolved { value, .. } => value,
            other => {
                if entry.kind.is_some() || key == evidence_handle {
                    problems.push(format!("`{key}` is {}", other.outcome()));
                }
                continue;
            }
        };
        let values: Vec<&str> = match &value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for v in values {
            // The run reads what a value names by path (the value rule's secrets, issue #27).
            r.parameters
                .extend(crate::rules::task_definition::parameters_named_by(v));
            let kind = entry.kind.or_else(|| arn_kind(v));
            if key == evidence_handle {
                r.evidence_bucket = Some(v.to_owned());
                r.buckets.insert(v.to_owned());
            }
            if let Some(account) = arn_account(v) {
                match &r.account {
                    None => r.account = Some(account.to_owned()),
                    Some(a) if a != account => problems.push(format!(
                        "`{key}` names account {account}, another handle {a}"
                    )),
                    Some(_) => {}
                }
            }
            if let Some(kind) = kind {
                if let Err(why) = add(&mut r, kind, v) {
                    problems.push(format!("`{key}`: {why}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::config(
            &env_file,
            format!(
                "the handles do not say what the policy needs: {}",
                problems.join("; ")
            ),
            "fix the handle (its kind, or the value it resolves to)",
        ));
    }
    Ok(r)
}

/// The account of an ARN that names one (`arn:aws:iam::123456789012:role/x`).
fn arn_account(v: &str) -> Option<&str> {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[4].len() == 12).then(|| parts[4])
}

/// What an ARN is, where it is one the policy scopes to.
fn arn_kind(v: &str) -> Option<ResourceKind> {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return None;
    }
    let resource = parts[5];
    match parts[2] {
        "iam" if resource.starts_with("role/") => Some(ResourceKind::IamRole),
        "ecs" if resource.starts_with("task-definition/") => Some(ResourceKind::EcsTaskDefinition),
        "ecs" if resource.starts_with("cluster/") => Some(ResourceKind::EcsCluster),
        "s3" if !resource.contains('/') => Some(ResourceKind::S3Bucket),
        _ => None,
    }
}

/// Adds a value of a kind; Err when the value is not of that kind.
fn add(r: &mut Resources, kind: ResourceKind, v: &str) -> std::result::Result<(), String> {
    let after = |prefix: &str| {
        v.splitn(6, ':')
            .nth(5)
            .and_then(|rest| rest.strip_prefix(prefix))
            .map(str::to_owned)
    };
    match kind {
        ResourceKind::EcsCluster => {
            let name = after("cluster/").unwrap_or_else(|| v.to_owned());
            match &r.cluster {
                Some(c) if *c != name => return Err(format!("a second cluster ({c} and {name})")),
                _ => r.cluster = Some(name),
            }
        }
        ResourceKind::EcsService => {
            let name = after("service/")
                .map(|s| s.rsplit('/').next().unwrap_or_default().to_owned())
                .unwrap_or_else(|| v.to_owned());
            r.services.insert(name);
        }
        ResourceKind::EcsTaskDefinition => {
            let family_rev = after("task-definition/").unwrap_or_else(|| v.to_owned());
            let family = family_rev.split(':').next().unwrap_or_default();
            r.task_definition_families.insert(family.to_owned());
        }
        ResourceKind::IamRole => {
            if after("role/").is_none() {
                return Err("an iam_role handle must resolve to a role ARN".into());
            }
            r.roles.insert(v.to_owned());
        }
        ResourceKind::S3Bucket => {
            r.buckets
                .insert(v.strip_prefix("arn:aws:s3:::").unwrap_or(v).to_owned());
        }
        ResourceKind::SsmParameter => {
            if !v.starts_with('/') && v.contains(':') {
                return Err("an ssm_parameter handle must resolve to a parameter name".into());
            }
            r.parameters.insert(v.to_owned());
        }
        ResourceKind::LogGroupPrefix => {
            r.log_group_prefixes.insert(v.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_says_what_it_is_and_which_account() {
        let td = "arn:aws:ecs:eu-west-2:123456789012:task-definition/fam-a:3";
        assert_eq!(arn_kind(td), Some(ResourceKind::EcsTaskDefinition));
        assert_eq!(arn_account(td), Some("123456789012"));
        assert_eq!(
            arn_kind("arn:aws:iam::123456789012:role/daemon"),
            Some(ResourceKind::IamRole)
        );
        // The near misses: a policy ARN is no role, a bare name says nothing.
        assert_eq!(arn_kind("arn:aws:iam::123456789012:policy/p"), None);
        assert_eq!(arn_kind("fraud-platform-dev-min-ig"), None);
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn a_value_of_another_kind_is_refused() {
        let mut r = Resources::default();
        assert!(add(&mut r, ResourceKind::IamRole, "fraud-daemon").is_err());
        add(
            &mut r,
            ResourceKind::EcsTaskDefinition,
            "arn:aws:ecs:eu-west-2:1:task-definition/f:2",
        )
        .unwrap();
        add(&mut r, ResourceKind::EcsTaskDefinition, "g:7").unwrap();
        assert_eq!(
            r.task_definition_families,
            ["f".to_owned(), "g".to_owned()].into()
        );
        add(&mut r, ResourceKind::EcsCluster, "c1").unwrap();
        assert!(add(&mut r, ResourceKind::EcsCluster, "c2").is_err());
    }
}
