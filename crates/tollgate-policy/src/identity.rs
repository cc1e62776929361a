//! What an IAM identity's ARN says about the principal-related condition keys.
//!
//! | Identity ARN | `aws:PrincipalArn` | `aws:PrincipalType` | `aws:username` | `aws:userid` known from the ARN |
//! |---|---|---|---|---|
//! | `arn:aws:iam::A:user/path/U` | itself | `User` | `U` | no (`AIDA…`, configure it) |
//! | `arn:aws:iam::A:role/path/R` | itself | `AssumedRole` | absent | no |
//! | `arn:aws:sts::A:assumed-role/R/S` | `arn:aws:iam::A:role/R` | `AssumedRole` | absent | no (`AROA…:S`) |
//! | `arn:aws:sts::A:federated-user/N` | itself | `FederatedUser` | absent | `A:N` |
//! | `arn:aws:iam::A:root` | itself | `Account` | absent | `A` |
//!
//! A session ARN carries no role path (STS drops it), so the derived role ARN has none; a role
//! with a path needs its role ARN given explicitly ([`PrincipalInfo::with_role_arn`]).

/// The principal facts derived from an identity ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// The 12-digit account (`aws:PrincipalAccount`).
    pub account: String,
    /// `aws:PrincipalType`: `User`, `AssumedRole`, `FederatedUser` or `Account`.
    pub principal_type: &'static str,
    /// `aws:PrincipalArn`: the role ARN for an assumed-role session, else the ARN itself.
    pub principal_arn: String,
    /// The last name of the ARN: user name, role name, session name, federated user name, or
    /// `root`.
    pub name: String,
    /// `aws:username` (IAM users only).
    pub username: Option<String>,
    /// `aws:userid` when the ARN alone determines it: the account id for the root user,
    /// `ACCOUNT:name` for a federated user. `None` for users and roles, whose unique ids
    /// (`AIDA…`, `AROA…`) are not part of the ARN.
    pub userid: Option<String>,
    /// An assumed-role session (its `principal_arn` is derived, not the ARN itself).
    session: bool,
}

impl PrincipalInfo {
    /// Parses `arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE`. `None` when the ARN has another
    /// shape.
    pub fn from_arn(arn: &str) -> Option<PrincipalInfo> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if partition.is_empty() || account.is_empty() || res.is_empty() {
            return None;
        }
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        let info = |principal_type, principal_arn: String, name: String| PrincipalInfo {
            account: account.to_owned(),
            principal_type,
            principal_arn,
            name,
            username: None,
            userid: None,
            session: false,
        };
        match (service, res.split_once('/')) {
            ("iam", None) if res == "root" => Some(PrincipalInfo {
                userid: Some(account.to_owned()),
                ..info("Account", arn.to_owned(), "root".to_owned())
            }),
            ("iam", Some(("user", path))) if !path.is_empty() => Some(PrincipalInfo {
                username: Some(last(path)),
                ..info("User", arn.to_owned(), last(path))
            }),
            ("iam", Some(("role", path))) if !path.is_empty() => {
                Some(info("AssumedRole", arn.to_owned(), last(path)))
            }
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest.split_once('/')?;
                if role.is_empty() || session.is_empty() || session.contains('/') {
                    return None;
                }
                let role_arn = format!("arn:{partition}:iam::{account}:role/{role}");
                Some(PrincipalInfo {
                    session: true,
                    ..info("AssumedRole", role_arn, session.to_owned())
                })
            }
            ("sts", Some(("federated-user", name))) if !name.is_empty() => Some(PrincipalInfo {
                userid: Some(format!("{account}:{name}")),
                ..info("FederatedUser", arn.to_owned(), name.to_owned())
            }),
            _ => None,
        }
    }

    /// Replaces the derived role ARN of an assumed-role session with `role_arn`, for a role
    /// created with a path (`arn:aws:iam::A:role/path/R`). Only a session's role ARN may be
    /// replaced, and only by an IAM role ARN of the same partition and account whose last name
    /// is the session's role name; otherwise `Err` says what is wrong.
    pub fn with_role_arn(mut self, role_arn: &str) -> Result<PrincipalInfo, String> {
        let derived = self.principal_arn.clone();
        let (true, Some((prefix, role))) = (self.session, derived.split_once(":role/")) else {
            return Err("only an assumed-role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) takes a role ARN".to_owned());
        };
        let ok = role_arn
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(":role/"))
            .is_some_and(|path| path == role || path.ends_with(&format!("/{role}")));
        if !ok {
            return Err(format!(
                "expected the ARN of role \"{role}\" ({prefix}:role/[PATH/]{role}), found \"{role_arn}\""
            ));
        }
        role_arn.clone_into(&mut self.principal_arn);
        Ok(self)
    }
}
