use metaverse_schema::entity::{ROLE_ADMIN, ROLE_USER};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    /// Case-insensitive, as the old platform's clients send `User`/`Admin`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case(ROLE_USER) {
            Some(Role::User)
        } else if s.eq_ignore_ascii_case(ROLE_ADMIN) {
            Some(Role::Admin)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => ROLE_USER,
            Role::Admin => ROLE_ADMIN,
        }
    }
}
