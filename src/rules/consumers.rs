//! Consumer uniqueness judged from the member's identity, not the group's name (issue #32): on a
//! lane topic, a group named after a mapped service may hold only that service's own running
//! task, and any other group is a parallel consumer. Pure, over what DescribeGroups answers.
//!
//! How a member is recognised as a daemon's task: DescribeGroups gives each member its
//! `member_id`, `client_id` and `client_host` (Kafka protocol, DescribeGroups v0+). A daemon sets
//! its Kafka `client.id` to carry its ECS task id (the last segment of its task ARN, which it
//! reads from the task metadata endpoint v4); a member counts as the service's task when its
//! client id carries the id of one of the service's RUNNING tasks. Where the broker leaves
//! `client_id` empty (tansu does), the member id stands in: the group coordinator builds it as
//! `client.id + "-" + UUID`. Where the broker reports a client host and the task's ENI address
//! is known, they must agree (a loopback host says nothing: every local client has it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A group member as `kafka_groups` reports it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_host: String,
    #[serde(default)]
    pub topics: Vec<String>,
}

/// A consumer group as `kafka_groups` reports it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupView {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub committed_topics: Vec<String>,
}

/// A running task of a service: its id (the last segment of its ARN) and, where ECS reported
/// them, its ENI addresses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct OwnTask {
    pub task_id: String,
    #[serde(default)]
    pub addresses: Vec<String>,
}

impl OwnTask {
    /// From a task ARN (`arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`).
    pub fn of_arn(arn: &str) -> OwnTask {
        OwnTask {
            task_id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            addresses: Vec::new(),
        }
    }
}

/// A group consuming lane topics, as the snapshot records it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LaneGroup {
    pub group: String,
    pub state: String,
    pub members: usize,
    pub member_ids: Vec<String>,
    pub topics: Vec<String>,
    /// The task each member was recognised as, or none.
    pub member_tasks: Vec<Option<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Conflict {
    pub group: String,
    pub reason: String,
}

/// Who a member says it is: its client id, or the client id its member id was built from.
fn client_identity(m: &Member) -> &str {
    if !m.client_id.is_empty() {
        return &m.client_id;
    }
    // `client.id + "-" + UUID`: a UUID is 36 characters with its dashes.
    match m.id.len().checked_sub(37) {
        Some(cut) if m.id.as_bytes().get(cut) == Some(&b'-') => &m.id[..cut],
        _ => &m.id,
    }
}

fn loopback(host: &str) -> bool {
    let host = host.trim_start_matches('/');
    host.is_empty() || host.starts_with("127.") || host == "::1" || host == "localhost"
}

/// The task of `tasks` a member is, if it is one of them.
fn recognised<'a>(m: &Member, tasks: &'a [OwnTask]) -> Option<&'a OwnTask> {
    let identity = client_identity(m);
    let host = m.client_host.trim_start_matches('/');
    tasks.iter().find(|t| {
        !t.task_id.is_empty()
            && identity.contains(&t.task_id)
            && (loopback(host) || t.addresses.is_empty() || t.addresses.iter().any(|a| a == host))
    })
}

/// The groups that consume `lane_topics` and the conflicts among them: a group named after a
/// service of `owners` (service -> its running tasks) may hold at most one live member, and that
/// member must be one of the service's own tasks; any other group on a lane topic consumes it in
/// parallel with the daemons.
pub fn judge(
    groups: &BTreeMap<String, GroupView>,
    owners: &BTreeMap<String, Vec<OwnTask>>,
    lane_topics: &[String],
) -> (Vec<LaneGroup>, Vec<Conflict>) {
    let mut rows = Vec::new();
    let mut conflicts = Vec::new();
    for (name, group) in groups {
        let mut topics: Vec<String> = group.committed_topics.clone();
        for m in &group.members {
            topics.extend(m.topics.iter().cloned());
        }
        let mut on_lanes: Vec<String> = topics
            .into_iter()
            .filter(|t| lane_topics.contains(t))
            .collect();
        on_lanes.sort();
        on_lanes.dedup();
        let live = group.members.len();
        if on_lanes.is_empty() || live == 0 {
            continue;
        }
        let own = owners.get(name);
        let member_tasks: Vec<Option<String>> = group
            .members
            .iter()
            .map(|m| own.and_then(|tasks| recognised(m, tasks).map(|t| t.task_id.clone())))
            .collect();
        rows.push(LaneGroup {
            group: name.clone(),
            state: group.state.clone(),
            members: live,
            member_ids: group.members.iter().map(|m| m.id.clone()).collect(),
            topics: on_lanes.clone(),
            member_tasks: member_tasks.clone(),
        });
        match own {
            None => conflicts.push(Conflict {
                group: name.clone(),
                reason: format!("consumes lane topic(s) {on_lanes:?} in parallel with the daemons"),
            }),
            Some(_) if live > 1 => conflicts.push(Conflict {
                group: name.clone(),
                reason: format!("{live} live members in a singleton lane group"),
            }),
            Some(_) => {
                for (m, task) in group.members.iter().zip(&member_tasks) {
                    if task.is_none() {
                        conflicts.push(Conflict {
                            group: name.clone(),
                            reason: format!(
                                "member `{}` (client `{}`, host `{}`) is not a running task of \
                                 service {name}: it consumes lane topic(s) {on_lanes:?} under the \
                                 service's name",
                                m.id,
                                client_identity(m),
                                m.client_host
                            ),
                        });
                    }
                }
            }
        }
    }
    (rows, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "fp.bus.traffic.fraud.v1";
    const TASK: &str = "0b9e1f2c3d4e4f5a8b7c6d5e4f3a2b1c";

    fn member(client_id: &str, id: &str, host: &str) -> Member {
        Member {
            id: id.into(),
            client_id: client_id.into(),
            client_host: host.into(),
            topics: vec![TOPIC.into()],
        }
    }

    fn judged(group: &str, members: Vec<Member>) -> Vec<Conflict> {
        let groups = BTreeMap::from([(
            group.to_owned(),
            GroupView {
                state: "Stable".into(),
                members,
                committed_topics: vec![],
            },
        )]);
        let owners = BTreeMap::from([
            (
                "ofp".to_owned(),
                vec![OwnTask {
                    task_id: TASK.into(),
                    addresses: vec!["10.0.1.23".into()],
                }],
            ),
            ("env-conformance".to_owned(), vec![]),
        ]);
        judge(&groups, &owners, &[TOPIC.to_owned()]).1
    }

    #[test]
    fn the_daemons_own_member_in_its_lane_group_passes() {
        // As Kafka reports it (client id set), and as tansu does (only the member id).
        let own = format!("ofp-{TASK}");
        assert!(judged(
            "ofp",
            vec![member(
                &own,
                &format!("{own}-1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
                "/10.0.1.23"
            )]
        )
        .is_empty());
        assert!(judged(
            "ofp",
            vec![member(
                "",
                &format!("{own}-1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
                ""
            )]
        )
        .is_empty());
    }

    #[test]
    fn a_consumer_under_a_services_name_is_judged_by_who_it_is() {
        // A manual consumer in the group named after the daemon without a lane.
        let c = judged(
            "env-conformance",
            vec![member("manual-replay", "manual-replay-x", "/127.0.0.1")],
        );
        assert_eq!(c.len(), 1);
        assert!(
            c[0].reason
                .contains("not a running task of service env-conformance"),
            "{c:?}"
        );
        // One claiming the task id from another host.
        let c = judged(
            "ofp",
            vec![member(&format!("ofp-{TASK}"), "m", "/10.9.9.9")],
        );
        assert_eq!(c.len(), 1, "{c:?}");
        // A group that is no service's.
        let c = judged("manual-replay", vec![member("x", "x-1", "")]);
        assert!(c[0].reason.contains("in parallel with the daemons"));
        // Two members of a lane group.
        let two = vec![
            member(&format!("ofp-{TASK}"), "a", ""),
            member(&format!("ofp-{TASK}"), "b", ""),
        ];
        assert!(judged("ofp", two)[0].reason.contains("2 live members"));
    }
}
