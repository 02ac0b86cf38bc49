//! AWS KMS custody: RSA_2048 SIGN_VERIFY keys created in KMS, whose private half never leaves
//! it. Four calls of the KMS JSON API (CreateKey, GetPublicKey, Sign, ScheduleKeyDeletion),
//! signed with SigV4, over ureq. Blocking: the key ring is only called off the async runtime.

use std::time::Duration;

use serde_json::{json, Value};

use super::sigv4::{self, Credentials};
use super::KeyError;
use crate::config::{check_endpoint, KmsMessageType, KmsSettings};
use crate::time::now;

/// The prefix of a KMS key's custody reference (the rest is its ARN).
pub const PREFIX: &str = "aws-kms:";
/// KMS refuses a RAW message longer than this.
const RAW_LIMIT: usize = 4096;
const ALGORITHM: &str = "RSASSA_PKCS1_V1_5_SHA_256";

pub struct Kms {
    agent: ureq::Agent,
    /// `scheme://authority`, default ports removed (the signed Host must be the one sent).
    url: String,
    authority: String,
    region: String,
    creds: Credentials,
    message_type: KmsMessageType,
    deletion_window_days: u32,
}

/// A public key as KMS describes it: DER SubjectPublicKeyInfo.
pub struct PublicKey {
    pub spki: Vec<u8>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Kms {
    pub fn open(settings: &KmsSettings) -> Result<Kms, KeyError> {
        let region = settings
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                KeyError::Vault(
                    "keys.kms.region: set it, or AWS_REGION in the issuer's environment".into(),
                )
            })?;
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_KMS"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com"));
        check_endpoint(&endpoint)
            .map_err(|m| KeyError::Vault(format!("keys.kms.endpoint: {m}")))?;
        let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
        let authority = rest.trim_end_matches('/');
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Ok(Kms {
            agent,
            url: format!("{scheme}://{authority}/"),
            authority,
            region,
            creds: Credentials::from_env().map_err(KeyError::Vault)?,
            message_type: settings.message_type,
            deletion_window_days: settings.deletion_window_days,
        })
    }

    /// Creates a key; returns its ARN.
    pub fn create(&self) -> Result<String, KeyError> {
        let answer = self.call(
            "CreateKey",
            &json!({
                "KeySpec": "RSA_2048",
                "KeyUsage": "SIGN_VERIFY",
                "Description": "tenantgate issuer token signing key",
            }),
        )?;
        answer["KeyMetadata"]["Arn"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| KeyError::Generate("AWS KMS CreateKey: no KeyMetadata.Arn".into()))
    }

    /// The public key of `arn`, checked to be an RSA key that signs with RS256.
    pub fn public_key(&self, arn: &str) -> Result<PublicKey, KeyError> {
        let answer = self.call("GetPublicKey", &json!({ "KeyId": arn }))?;
        let usable = answer["KeyUsage"] == "SIGN_VERIFY"
            && answer["SigningAlgorithms"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == ALGORITHM));
        if !usable {
            return Err(KeyError::Vault(format!(
                "AWS KMS key {arn} is not a SIGN_VERIFY key that signs with {ALGORITHM}"
            )));
        }
        let spki = answer["PublicKey"]
            .as_str()
            .and_then(decode_b64)
            .ok_or_else(|| KeyError::Vault("AWS KMS GetPublicKey: no PublicKey".into()))?;
        Ok(PublicKey { spki })
    }

    /// The RS256 signature of `message` by `arn`.
    pub fn sign(&self, arn: &str, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let answer = self.call("Sign", &sign_request(self.message_type, arn, message)?)?;
        answer["Signature"]
            .as_str()
            .and_then(decode_b64)
            .ok_or_else(|| KeyError::Sign("AWS KMS Sign: no Signature".into()))
    }

    /// Schedules the deletion of `arn` after the configured pending window. By key id (the
    /// ARN's last part): AWS takes either, moto 5 only the id here. This client only reaches
    /// its own region and account, where the id names the same key.
    pub fn schedule_deletion(&self, arn: &str) -> Result<(), KeyError> {
        let key_id = arn.rsplit_once(":key/").map_or(arn, |(_, id)| id);
        self.call(
            "ScheduleKeyDeletion",
            &json!({ "KeyId": key_id, "PendingWindowInDays": self.deletion_window_days }),
        )
        .map(|_| ())
    }

    /// One SigV4-signed call of the KMS JSON API (`TrentService.<action>`).
    fn call(&self, action: &str, body: &Value) -> Result<Value, KeyError> {
        let body = body.to_string();
        let target = format!("TrentService.{action}");
        let date = sigv4::amz_date(now());
        let content_type = "application/x-amz-json-1.1";
        let mut headers = vec![
            ("content-type", content_type),
            ("host", self.authority.as_str()),
            ("x-amz-date", date.as_str()),
            ("x-amz-target", target.as_str()),
        ];
        if let Some(token) = &self.creds.session_token {
            headers.push(("x-amz-security-token", token.as_str()));
        }
        let request = sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let auth = sigv4::authorization(&self.creds, &self.region, "kms", &date, &request);
        let mut builder = self.agent.post(&self.url).header("authorization", &auth);
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        let fail = |m: String| KeyError::Vault(format!("AWS KMS {action} at {}: {m}", self.url));
        let mut response = builder
            .send(body.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 200 {
            let kind = answer["__type"].as_str().unwrap_or("error");
            let kind = kind.rsplit('#').next().unwrap_or(kind);
            let message = answer["message"]
                .as_str()
                .or_else(|| answer["Message"].as_str())
                .unwrap_or("");
            return Err(fail(format!("{status} {kind}: {message}")));
        }
        Ok(answer)
    }
}

/// The body of a `Sign` call: the SHA-256 digest of `message` (`DIGEST`, which KMS wraps in the
/// PKCS#1 DigestInfo itself), or `message` itself (`RAW`, which KMS hashes).
fn sign_request(kind: KmsMessageType, arn: &str, message: &[u8]) -> Result<Value, KeyError> {
    let (kind, payload) = match kind {
        KmsMessageType::Digest => (
            "DIGEST",
            ring::digest::digest(&ring::digest::SHA256, message)
                .as_ref()
                .to_vec(),
        ),
        KmsMessageType::Raw if message.len() <= RAW_LIMIT => ("RAW", message.to_vec()),
        KmsMessageType::Raw => {
            return Err(KeyError::Sign(format!(
                "the signing input has {} bytes, more than KMS takes as a RAW message \
                 ({RAW_LIMIT}); set keys.kms.message_type = \"digest\"",
                message.len()
            )))
        }
    };
    Ok(json!({
        "KeyId": arn,
        "Message": encode_b64(&payload),
        "MessageType": kind,
        "SigningAlgorithm": ALGORITHM,
    }))
}

fn encode_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_requests_carry_the_digest_or_the_message() {
        let digest = sign_request(KmsMessageType::Digest, "arn:k", b"abc").expect("digest");
        assert_eq!(digest["MessageType"], "DIGEST");
        assert_eq!(digest["SigningAlgorithm"], "RSASSA_PKCS1_V1_5_SHA_256");
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            digest["Message"].as_str().and_then(decode_b64),
            Some(
                [
                    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d,
                    0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10,
                    0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
                ]
                .to_vec()
            )
        );
        let raw = sign_request(KmsMessageType::Raw, "arn:k", b"abc").expect("raw");
        assert_eq!(raw["MessageType"], "RAW");
        assert_eq!(raw["Message"], "YWJj");
        let long = vec![b'a'; RAW_LIMIT + 1];
        assert!(sign_request(KmsMessageType::Raw, "arn:k", &long).is_err());
        assert!(sign_request(KmsMessageType::Digest, "arn:k", &long).is_ok());
    }
}
