//! The claim rules: audience, times, lifetime, subject, tenant and roles.

use super::*;

#[test]
fn audience_rules() {
    let f = fixture();
    assert!(f.with("aud", json!("admin-api")).is_ok());
    assert!(f.with("aud", json!(["other", "api"])).is_ok());
    assert_eq!(
        f.with("aud", json!("other")),
        denied(Denial::AudienceMismatch)
    );
    assert_eq!(f.with("aud", json!([])), denied(Denial::AudienceMismatch));
    assert_eq!(
        f.with("aud", json!("API")),
        denied(Denial::AudienceMismatch)
    );
    assert_eq!(
        f.with("aud", json!(["api", 1])),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(
        f.with("aud", json!({"api": true})),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(f.without("aud"), denied(Denial::ClaimMissing));
}

#[test]
fn time_rules_with_skew() {
    let f = fixture();
    let now = NOW as i64;
    // Default skew: 60 s.
    assert!(f.with("exp", json!(now - 59)).is_ok());
    assert_eq!(f.with("exp", json!(now - 60)), denied(Denial::TokenExpired));
    assert_eq!(f.without("exp"), denied(Denial::ClaimMissing));
    assert_eq!(
        f.with("exp", json!(NOW.to_string())),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(f.with("exp", json!(null)), denied(Denial::ClaimInvalid));
    assert!(
        f.with("exp", json!(now as f64 + 0.5)).is_ok(),
        "NumericDate may be fractional"
    );
    assert!(
        f.with("exp", json!(u64::MAX)).is_ok(),
        "far future saturates"
    );

    assert!(f.with("nbf", json!(now + 60)).is_ok());
    assert_eq!(
        f.with("nbf", json!(now + 61)),
        denied(Denial::TokenNotYetValid)
    );
    assert_eq!(f.with("nbf", json!("soon")), denied(Denial::ClaimInvalid));
    assert!(f.without("nbf").is_ok());

    assert!(f.with("iat", json!(now + 60)).is_ok());
    assert_eq!(
        f.with("iat", json!(now + 61)),
        denied(Denial::TokenIssuedInFuture)
    );
    assert_eq!(f.with("iat", json!(true)), denied(Denial::ClaimInvalid));
    assert!(f.without("iat").is_ok());

    let strict = Fixture {
        providers: vec![provider(json!({"clock_skew_seconds": 0}))],
        ..fixture()
    };
    assert_eq!(strict.with("exp", json!(now)), denied(Denial::TokenExpired));
    assert!(strict.with("exp", json!(now + 1)).is_ok());
    assert_eq!(
        strict.with("nbf", json!(now + 1)),
        denied(Denial::TokenNotYetValid)
    );
}

#[test]
fn maximum_lifetime() {
    let f = Fixture {
        providers: vec![provider(json!({"max_lifetime_seconds": 3600}))],
        ..fixture()
    };
    let now = NOW as i64;
    let mut c = claims();
    c["iat"] = json!(now - 100);
    c["exp"] = json!(now - 100 + 3600);
    assert!(f.check(&c).is_ok());
    c["exp"] = json!(now - 100 + 3601);
    assert_eq!(f.check(&c), denied(Denial::TokenLifetimeExceeded));
    // Without iat, the remaining lifetime counts.
    c.as_object_mut().map(|o| o.remove("iat"));
    c["exp"] = json!(now + 3600);
    assert!(f.check(&c).is_ok());
    c["exp"] = json!(now + 3601);
    assert_eq!(f.check(&c), denied(Denial::TokenLifetimeExceeded));
}

#[test]
fn subject_rules() {
    let f = fixture();
    assert_eq!(f.without("sub"), denied(Denial::ClaimMissing));
    assert_eq!(f.with("sub", json!("")), denied(Denial::ClaimInvalid));
    assert_eq!(f.with("sub", json!(42)), denied(Denial::ClaimInvalid));
    for bad in ["a\r\nx-tenant-id: evil", "a\0b", "a\u{7f}", "a\u{85}b"] {
        assert_eq!(
            f.with("sub", json!(bad)),
            denied(Denial::ClaimInvalid),
            "{bad:?}"
        );
    }
    assert_eq!(
        f.with("sub", json!("élodie@example.com"))
            .map(|v| v.subject),
        Ok("élodie@example.com".into())
    );
}

#[test]
fn tenant_rules() {
    let f = fixture();
    assert_eq!(f.without("tenantId"), denied(Denial::TenantMissing));
    assert_eq!(f.with("tenantId", json!(7)), denied(Denial::TenantMissing));
    assert_eq!(f.with("tenantId", json!("")), denied(Denial::TenantMissing));
    assert_eq!(
        f.with("tenantId", json!("ac\nme")),
        denied(Denial::ClaimInvalid)
    );

    let custom = Fixture {
        providers: vec![provider(json!({"tenant_claim": "tid"}))],
        ..fixture()
    };
    assert_eq!(custom.check(&claims()), denied(Denial::TenantMissing));
    assert_eq!(
        custom.with("tid", json!("initech")).map(|v| v.tenant),
        Ok("initech".into())
    );

    let bound = Fixture {
        providers: vec![provider(json!({"tenant": "solo"}))],
        ..fixture()
    };
    assert_eq!(
        bound.without("tenantId").map(|v| v.tenant),
        Ok("solo".into())
    );
}

#[test]
fn roles_rules() {
    let f = fixture();
    assert_eq!(f.without("roles").map(|v| v.roles), Ok(vec![]));
    assert_eq!(f.with("roles", json!([])).map(|v| v.roles), Ok(vec![]));
    for bad in [
        json!("admin"),
        json!(null),
        json!({"admin": true}),
        json!(["admin", 1]),
        json!(["a,b"]),
        json!(["a\nb"]),
        json!([""]),
    ] {
        assert_eq!(
            f.with("roles", bad.clone()),
            denied(Denial::ClaimInvalid),
            "{bad}"
        );
    }
    let groups = Fixture {
        providers: vec![provider(json!({"roles_claim": "groups"}))],
        ..fixture()
    };
    let mut c = claims();
    c["groups"] = json!(["ops"]);
    assert_eq!(
        groups.check(&c).map(|v| v.roles),
        Ok(vec!["ops".to_string()])
    );
}
