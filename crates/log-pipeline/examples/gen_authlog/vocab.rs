//! What the simulated sshd says: the accounts and word lists the actors use, and the kinds
//! of line with how a log reader should count them (`sim.rs` uses them; kept apart to keep
//! the simulation readable).

/// Accounts the brute-force attackers go after (they exist on the host; root most often).
pub(super) const BRUTE_TARGETS: &[&str] = &[
    "root", "root", "root", "root", "root", "root", "deploy", "backup", "root",
];
/// System accounts that exist but are not in `AllowUsers`: sshd logs "not allowed".
pub(super) const NOT_ALLOWED: &[&str] = &["git", "postgres", "mysql", "nobody", "www-data"];
/// The wordlist of the dictionary attackers and scanners. The empty name is real: clients
/// that send an empty user name give `Invalid user  from …`.
pub(super) const WORDLIST: &[&str] = &[
    "admin",
    "test",
    "user",
    "oracle",
    "guest",
    "support",
    "pi",
    "jenkins",
    "hadoop",
    "nagios",
    "tomcat",
    "ubnt",
    "ftpuser",
    "dev",
    "devops",
    "web",
    "webadmin",
    "minecraft",
    "steam",
    "ts3",
    "zabbix",
    "elastic",
    "kafka",
    "redis",
    "docker",
    "ansible",
    "vagrant",
    "centos",
    "debian",
    "ec2-user",
    "azureuser",
    "student",
    "sysadmin",
    "operator",
    "sales",
    "office",
    "demo",
    "temp",
    "odoo",
    "wordpress",
    "wp",
    "dbadmin",
    "administrator",
    "manager",
    "service",
    "server",
    "netadmin",
    "cisco",
    "test1",
    "test123",
    "user1",
    "admin1",
    "admin123",
    "123",
    "1234",
    "0",
    "git",
    "postgres",
    "mysql",
    "nobody",
    "www-data",
    "",
    "sol",
    "solana",
    "validator",
    "node",
    "ethereum",
    "bitcoin",
    "trader",
    "hduser",
    "spark",
    "flink",
    "es",
    "grafana",
    "prometheus",
    "gitlab-runner",
    "runner",
    "ftp",
    "anonymous",
];
/// Legitimate users: name, uid, logs in by public key (else password), home addresses.
pub(super) const USERS: &[(&str, u32, bool)] = &[
    ("alice", 1001, true),
    ("bob", 1002, false),
    ("carol", 1003, false),
    ("dave", 1004, true),
    ("deploy", 1100, true),
];
/// Reverse-DNS suffixes for the "POSSIBLE BREAK-IN ATTEMPT" lines.
pub(super) const RDNS: &[&str] = &[
    "dsl.example.net",
    "cable.example.org",
    "vps.example.com",
    "static.example.net",
    "cloud.example",
];

/// What a line is, for the ground truth's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    AcceptedPassword,
    AcceptedPublickey,
    BadProtocol,
    BannerExchange,
    CheckPassUnknown,
    ConnectionClosed,
    ConnectionReset,
    Disconnected,
    FailedPassword,
    FailedPasswordInvalid,
    InputUserauthInvalid,
    InvalidUser,
    KexClosed,
    KexInvalidIdentifier,
    MaxAuthExceeded,
    NoIdentification,
    NoMatchingHostKey,
    NoMatchingKex,
    PamAuthFailure,
    PamIgnoringMaxRetries,
    PamMoreFailures,
    ReceivedDisconnect,
    ReverseMapping,
    AddressMapsTo,
    SessionClosed,
    SessionOpened,
    Timeout,
    TooManyFailures,
    UserNotAllowed,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::AcceptedPassword => "accepted_password",
            Kind::AcceptedPublickey => "accepted_publickey",
            Kind::BadProtocol => "bad_protocol_version",
            Kind::BannerExchange => "banner_exchange_invalid",
            Kind::CheckPassUnknown => "pam_check_pass_unknown",
            Kind::ConnectionClosed => "connection_closed",
            Kind::ConnectionReset => "connection_reset",
            Kind::Disconnected => "disconnected",
            Kind::FailedPassword => "failed_password",
            Kind::FailedPasswordInvalid => "failed_password_invalid_user",
            Kind::InputUserauthInvalid => "input_userauth_request_invalid",
            Kind::InvalidUser => "invalid_user",
            Kind::KexClosed => "kex_identification_closed",
            Kind::KexInvalidIdentifier => "kex_identification_invalid",
            Kind::MaxAuthExceeded => "max_auth_attempts_exceeded",
            Kind::NoIdentification => "no_identification_string",
            Kind::NoMatchingHostKey => "no_matching_host_key",
            Kind::NoMatchingKex => "no_matching_kex",
            Kind::PamAuthFailure => "pam_auth_failure",
            Kind::PamIgnoringMaxRetries => "pam_ignoring_max_retries",
            Kind::PamMoreFailures => "pam_more_failures",
            Kind::ReceivedDisconnect => "received_disconnect",
            Kind::ReverseMapping => "reverse_mapping_failed",
            Kind::AddressMapsTo => "address_maps_to",
            Kind::SessionClosed => "session_closed",
            Kind::SessionOpened => "session_opened",
            Kind::Timeout => "timeout_before_auth",
            Kind::TooManyFailures => "too_many_auth_failures",
            Kind::UserNotAllowed => "user_not_allowed",
        }
    }

    /// One failed authentication, as a log reader should count it (the `PAM N more` summary
    /// repeats failures already logged, so it is not one).
    pub(super) fn is_auth_failure(self) -> bool {
        matches!(
            self,
            Kind::FailedPassword
                | Kind::FailedPasswordInvalid
                | Kind::PamAuthFailure
                | Kind::UserNotAllowed
        )
    }

    /// What fail2ban's sshd filter (and the benchmark's threshold rule) count.
    pub(super) fn is_failed_password(self) -> bool {
        matches!(self, Kind::FailedPassword | Kind::FailedPasswordInvalid)
    }

    /// Severity `err` (the message starts with `error: `); everything else is `info`.
    pub(super) fn is_error(self) -> bool {
        matches!(
            self,
            Kind::MaxAuthExceeded | Kind::KexClosed | Kind::KexInvalidIdentifier
        )
    }

    /// PAM's own lines go to authpriv; sshd's to auth.
    pub(super) fn is_authpriv(self) -> bool {
        matches!(
            self,
            Kind::CheckPassUnknown
                | Kind::PamAuthFailure
                | Kind::PamIgnoringMaxRetries
                | Kind::PamMoreFailures
                | Kind::SessionClosed
                | Kind::SessionOpened
        )
    }
}

/// Who produced a line (ground truth per actor class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Brute,
    Dictionary,
    Scanner,
    Legitimate,
}

impl Class {
    pub(super) fn name(self) -> &'static str {
        match self {
            Class::Brute => "bruteforce",
            Class::Dictionary => "dictionary",
            Class::Scanner => "scanner",
            Class::Legitimate => "legitimate",
        }
    }
}
