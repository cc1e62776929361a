//! The request context a policy is evaluated against, and condition-key lookup.

use std::borrow::Cow;
use std::net::IpAddr;

/// Who is calling.
#[derive(Debug, Clone, Copy, Default)]
pub enum Principal<'a> {
    /// No AWS identity: `NONE`, Lambda-authorizer and Cognito callers. Only `"*"` principals
    /// match, and every principal-related condition key is absent.
    #[default]
    Anonymous,
    /// A SigV4-authenticated IAM identity.
    Iam(IamCaller<'a>),
}

impl<'a> Principal<'a> {
    /// An IAM caller with only its ARN and account set.
    pub fn iam(arn: &'a str, account: &'a str) -> Self {
        Principal::Iam(IamCaller {
            arn,
            account,
            ..IamCaller::default()
        })
    }
}

/// An authenticated IAM caller and the principal-related condition keys it brings.
#[derive(Debug, Clone, Copy, Default)]
pub struct IamCaller<'a> {
    /// The caller's ARN as shown in messages (`arn:aws:iam::123456789012:user/alice`,
    /// `arn:aws:sts::123456789012:assumed-role/r/session`).
    pub arn: &'a str,
    /// The caller's 12-digit account id (`aws:PrincipalAccount`).
    pub account: &'a str,
    /// `aws:PrincipalArn` when it differs from `arn` (the role ARN of an assumed-role session);
    /// `None` means `arn`. A policy `Principal` naming either ARN matches.
    pub principal_arn: Option<&'a str>,
    /// `aws:PrincipalType` (`User`, `AssumedRole`, `FederatedUser`, `Account`).
    pub principal_type: Option<&'a str>,
    /// `aws:userid`.
    pub userid: Option<&'a str>,
    /// `aws:username` (IAM users only).
    pub username: Option<&'a str>,
    /// `aws:PrincipalTag/<key>` pairs; keys compare case-insensitively.
    pub tags: &'a [(&'a str, &'a str)],
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<&'a str>,
}

/// Per-request facts that are not about the principal. Everything is borrowed, so the gateway
/// can fill it from the parsed request head without allocating.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// `aws:SourceIp` (absent for requests through a VPC endpoint).
    pub source_ip: Option<IpAddr>,
    /// `aws:VpcSourceIp` (private APIs).
    pub vpc_source_ip: Option<IpAddr>,
    /// `aws:SourceVpc` (private APIs).
    pub source_vpc: Option<&'a str>,
    /// `aws:SourceVpce` (private APIs).
    pub source_vpce: Option<&'a str>,
    /// `aws:CurrentTime` / `aws:EpochTime`, seconds since the Unix epoch.
    pub now_epoch_secs: i64,
    /// `aws:SecureTransport`.
    pub secure_transport: bool,
    /// `aws:UserAgent` (present only when the header was sent).
    pub user_agent: Option<&'a str>,
    /// `aws:Referer` (present only when the header was sent).
    pub referer: Option<&'a str>,
}

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Usually `execute-api:Invoke`.
    pub action: &'a str,
    /// The method ARN, `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}/{path}`.
    pub resource: &'a str,
    /// The caller.
    pub principal: Principal<'a>,
    /// Request facts (source IP, VPC endpoint, time, headers).
    pub facts: &'a Facts<'a>,
}

/// A condition key (names are case-insensitive; unknown keys are always absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    SourceIp,
    VpcSourceIp,
    SourceVpc,
    SourceVpce,
    CurrentTime,
    EpochTime,
    SecureTransport,
    UserAgent,
    Referer,
    PrincipalAccount,
    PrincipalArn,
    PrincipalType,
    UserId,
    UserName,
    PrincipalOrgId,
    /// Tag key, lower-cased.
    PrincipalTag(String),
    Unknown,
}

impl Key {
    pub(crate) fn parse(name: &str) -> Key {
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "aws:sourceip" => Key::SourceIp,
            "aws:vpcsourceip" => Key::VpcSourceIp,
            "aws:sourcevpc" => Key::SourceVpc,
            "aws:sourcevpce" => Key::SourceVpce,
            "aws:currenttime" => Key::CurrentTime,
            "aws:epochtime" => Key::EpochTime,
            "aws:securetransport" => Key::SecureTransport,
            "aws:useragent" => Key::UserAgent,
            "aws:referer" => Key::Referer,
            "aws:principalaccount" => Key::PrincipalAccount,
            "aws:principalarn" => Key::PrincipalArn,
            "aws:principaltype" => Key::PrincipalType,
            "aws:userid" => Key::UserId,
            "aws:username" => Key::UserName,
            "aws:principalorgid" => Key::PrincipalOrgId,
            other => match other.strip_prefix("aws:principaltag/") {
                Some(tag) if !tag.is_empty() => Key::PrincipalTag(tag.to_string()),
                _ => Key::Unknown,
            },
        }
    }
}

/// A request value for a condition key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Str(&'a str),
    Ip(IpAddr),
    /// `aws:CurrentTime` (renders as ISO 8601).
    Date(i64),
    /// `aws:EpochTime` (renders as decimal seconds).
    Epoch(i64),
    Bool(bool),
}

impl<'a> Val<'a> {
    pub(crate) fn as_str(self) -> Cow<'a, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Ip(ip) => Cow::Owned(ip.to_string()),
            Val::Date(t) => Cow::Owned(crate::time::format_iso(t)),
            Val::Epoch(t) => Cow::Owned(t.to_string()),
            Val::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        }
    }
}

pub(crate) fn lookup<'a>(key: &Key, req: &Request<'a>) -> Option<Val<'a>> {
    let f = req.facts;
    let iam = match &req.principal {
        Principal::Iam(c) => Some(c),
        Principal::Anonymous => None,
    };
    match key {
        Key::SourceIp => f.source_ip.map(Val::Ip),
        Key::VpcSourceIp => f.vpc_source_ip.map(Val::Ip),
        Key::SourceVpc => f.source_vpc.map(Val::Str),
        Key::SourceVpce => f.source_vpce.map(Val::Str),
        Key::CurrentTime => Some(Val::Date(f.now_epoch_secs)),
        Key::EpochTime => Some(Val::Epoch(f.now_epoch_secs)),
        Key::SecureTransport => Some(Val::Bool(f.secure_transport)),
        Key::UserAgent => f.user_agent.map(Val::Str),
        Key::Referer => f.referer.map(Val::Str),
        Key::PrincipalAccount => iam.map(|c| Val::Str(c.account)),
        Key::PrincipalArn => iam.map(|c| Val::Str(c.principal_arn.unwrap_or(c.arn))),
        Key::PrincipalType => iam.and_then(|c| c.principal_type).map(Val::Str),
        Key::UserId => iam.and_then(|c| c.userid).map(Val::Str),
        Key::UserName => iam.and_then(|c| c.username).map(Val::Str),
        Key::PrincipalOrgId => iam.and_then(|c| c.org_id).map(Val::Str),
        Key::PrincipalTag(tag) => iam.and_then(|c| {
            c.tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| Val::Str(v))
        }),
        Key::Unknown => None,
    }
}
