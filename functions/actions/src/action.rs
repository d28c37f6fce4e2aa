//! What an action is, parsed at the edge: one of the eight kinds of
//! `docs/API.md`, on a resource whose ARN names what that kind acts on.
//! Below this module a handler never sees an unknown action, or an ARN of
//! the wrong shape.

use serde::{Deserialize, Serialize};
use shared::inventory::{plausible_account_id, plausible_region};
use shared::resources::storable_arn;
use utoipa::ToSchema;

/// The eight remediation actions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum ActionKind {
    #[serde(rename = "ec2.stop_instance")]
    StopInstance,
    #[serde(rename = "ec2.start_instance")]
    StartInstance,
    #[serde(rename = "ec2.release_address")]
    ReleaseAddress,
    #[serde(rename = "ec2.delete_volume")]
    DeleteVolume,
    #[serde(rename = "ec2.delete_snapshot")]
    DeleteSnapshot,
    #[serde(rename = "ec2.delete_nat_gateway")]
    DeleteNatGateway,
    #[serde(rename = "rds.stop_db_instance")]
    StopDbInstance,
    #[serde(rename = "s3.delete_bucket")]
    DeleteBucket,
}

impl ActionKind {
    pub const ALL: [ActionKind; 8] = [
        Self::StopInstance,
        Self::StartInstance,
        Self::ReleaseAddress,
        Self::DeleteVolume,
        Self::DeleteSnapshot,
        Self::DeleteNatGateway,
        Self::StopDbInstance,
        Self::DeleteBucket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StopInstance => "ec2.stop_instance",
            Self::StartInstance => "ec2.start_instance",
            Self::ReleaseAddress => "ec2.release_address",
            Self::DeleteVolume => "ec2.delete_volume",
            Self::DeleteSnapshot => "ec2.delete_snapshot",
            Self::DeleteNatGateway => "ec2.delete_nat_gateway",
            Self::StopDbInstance => "rds.stop_db_instance",
            Self::DeleteBucket => "s3.delete_bucket",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The inventory's type of the resources it acts on.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::StopInstance | Self::StartInstance => "ec2:instance",
            Self::ReleaseAddress => "ec2:elastic-ip",
            Self::DeleteVolume => "ec2:volume",
            Self::DeleteSnapshot => "ec2:snapshot",
            Self::DeleteNatGateway => "ec2:nat-gateway",
            Self::StopDbInstance => "rds:db-instance",
            Self::DeleteBucket => "s3:bucket",
        }
    }

    /// `(service, the resource part's prefix)` of the ARNs it acts on.
    fn arn_shape(self) -> (&'static str, &'static str) {
        match self {
            Self::StopInstance | Self::StartInstance => ("ec2", "instance/"),
            Self::ReleaseAddress => ("ec2", "elastic-ip/"),
            Self::DeleteVolume => ("ec2", "volume/"),
            Self::DeleteSnapshot => ("ec2", "snapshot/"),
            Self::DeleteNatGateway => ("ec2", "natgateway/"),
            Self::StopDbInstance => ("rds", "db:"),
            Self::DeleteBucket => ("s3", ""),
        }
    }

    /// What `ActionKind::parse` accepts, for a `422`.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// The resource an action is asked for, from its ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub arn: String,
    pub kind: ActionKind,
    /// The ARN's account; `None` for a bucket, whose ARN names none (the
    /// inventory knows it).
    pub account_id: Option<String>,
    /// The ARN's region; `None` for a bucket.
    pub region: Option<String>,
    /// The resource's own id: `i-…`, `eipalloc-…`, a DB identifier, a bucket name.
    pub id: String,
}

impl Target {
    /// The target of `kind` at `arn`, or why the ARN cannot be one.
    pub fn parse(kind: ActionKind, arn: &str) -> Result<Target, String> {
        let (service, prefix) = kind.arn_shape();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let well_formed = storable_arn(arn)
            && parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == service;
        let id = parts
            .get(5)
            .and_then(|resource| resource.strip_prefix(prefix))
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 255
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        let example = match kind {
            ActionKind::DeleteBucket => "arn:aws:s3:::<bucket>".to_owned(),
            _ => format!("arn:aws:{service}:<region>:<12 digits>:{prefix}<id>"),
        };
        let refused = || Err(format!("{} acts on ARNs shaped {example}", kind.as_str()));
        let (true, Some(id)) = (well_formed, id) else {
            return refused();
        };
        if kind == ActionKind::DeleteBucket {
            return if parts[3].is_empty() && parts[4].is_empty() {
                Ok(Target {
                    arn: arn.to_owned(),
                    kind,
                    account_id: None,
                    region: None,
                    id: id.to_owned(),
                })
            } else {
                refused()
            };
        }
        if !plausible_region(parts[3]) || !plausible_account_id(parts[4]) {
            return refused();
        }
        Ok(Target {
            arn: arn.to_owned(),
            kind,
            account_id: Some(parts[4].to_owned()),
            region: Some(parts[3].to_owned()),
            id: id.to_owned(),
        })
    }
}

/// How an action ended, as the answer and the audit log say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The audit record is written and the action under way (only while it runs).
    Pending,
    /// A dry run that would succeed.
    Planned,
    Done,
    /// Not attempted: protected, a precondition failed, the resource is
    /// gone, no remediation role, or another action holds the resource.
    Refused,
    /// Attempted, and AWS refused or failed it (its error code is kept).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Planned => "planned",
            Self::Done => "done",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Planned,
            Self::Done,
            Self::Refused,
            Self::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_its_wire_name() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(ActionKind::parse("ec2.terminate_instance"), None);
    }

    #[test]
    fn an_arn_names_the_account_region_and_id_of_its_target() {
        let t = Target::parse(
            ActionKind::DeleteVolume,
            "arn:aws:ec2:eu-west-1:123456789012:volume/vol-0abc",
        )
        .unwrap();
        assert_eq!(
            (t.account_id.as_deref(), t.region.as_deref(), t.id.as_str()),
            (Some("123456789012"), Some("eu-west-1"), "vol-0abc")
        );
        let db = Target::parse(
            ActionKind::StopDbInstance,
            "arn:aws:rds:us-east-1:123456789012:db:orders-prod",
        )
        .unwrap();
        assert_eq!(db.id, "orders-prod");
        let bucket = Target::parse(ActionKind::DeleteBucket, "arn:aws:s3:::logs-old").unwrap();
        assert_eq!((bucket.account_id, bucket.id.as_str()), (None, "logs-old"));
    }

    #[test]
    fn an_arn_of_another_kind_or_shape_is_refused() {
        for (kind, arn) in [
            // A volume's action on an instance: the wrong resource.
            (
                ActionKind::DeleteVolume,
                "arn:aws:ec2:eu-west-1:123456789012:instance/i-1",
            ),
            (
                ActionKind::StopInstance,
                "arn:aws:ec2:eu-west-1:12345:instance/i-1",
            ),
            (
                ActionKind::StopInstance,
                "arn:aws:ec2:EU:123456789012:instance/i-1",
            ),
            (
                ActionKind::StopInstance,
                "arn:aws:ec2:eu-west-1:123456789012:instance/",
            ),
            (
                ActionKind::StopInstance,
                "arn:aws:ec2:eu-west-1:123456789012:instance/i-1/../x",
            ),
            (
                ActionKind::DeleteBucket,
                "arn:aws:s3:eu-west-1:123456789012:b",
            ),
            (ActionKind::DeleteBucket, "not an arn"),
        ] {
            assert!(Target::parse(kind, arn).is_err(), "{arn}");
        }
    }
}
