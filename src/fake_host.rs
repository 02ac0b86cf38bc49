//! An in-memory [`Host`] for the worker's unit tests: headers per request context, a clock the
//! test moves, shared data with the host's compare-and-swap semantics (one store can back several
//! workers), and a record of every reply, resume, callout and stat.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

pub use tenantgate_core::jwks::shared::mem_store::MemStore;
use tenantgate_core::jwks::shared::{SharedStore, StoreError};
use tenantgate_core::wire::HeaderBlock;

use crate::host::{CalloutRequest, Host, HostError, MetricKind};

/// A local reply sent to a request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub context_id: u32,
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `error` code of the JSON body.
    pub fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.body).expect("JSON reply body");
        body["error"].as_str().expect("error code").to_string()
    }
}

/// A callout the worker dispatched.
#[derive(Debug, Clone)]
pub struct Callout {
    pub token: u32,
    /// The context whose callback dispatched it (the host answers that context).
    pub from_context: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Default)]
struct State {
    now_ms: u64,
    random: Option<u64>,
    /// Live requests: their headers, by context id.
    requests: BTreeMap<u32, Vec<(String, String)>>,
    /// The context whose callback runs.
    active: u32,
    /// The context request calls act on.
    effective: u32,
    replies: Vec<Reply>,
    resumed: Vec<u32>,
    callouts: Vec<Callout>,
    refuse_dispatch: bool,
    /// The callout answer being delivered: headers and body.
    answer: (Vec<(String, String)>, Vec<u8>),
    /// The `max_bytes` of every body read.
    body_reads: Vec<usize>,
    metrics: BTreeMap<String, (MetricKind, u32)>,
    values: HashMap<u32, i64>,
    /// What `verify_signature` does, and how often it was called.
    verify_signature: VerifySignature,
    foreign_calls: usize,
    /// Every call the worker made through [`Host`] and [`SharedStore`], by method name.
    host_calls: BTreeMap<&'static str, usize>,
}

/// The host's `verify_signature` foreign function, as a test wants it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerifySignature {
    /// The host has no such function (`NotFound`).
    #[default]
    Missing,
    /// A correct one (an independent RSA implementation reading the SubjectPublicKeyInfo).
    Correct,
    /// Answers "valid" to everything.
    AlwaysValid,
    /// Correct until it starts failing every call (`InternalFailure`), as after configure.
    FailsAfter(usize),
}

/// Cheap to clone: clones share the same state, so a test keeps one while the worker owns another.
#[derive(Clone)]
pub struct FakeHost {
    state: Rc<RefCell<State>>,
    store: Rc<MemStore>,
}

impl FakeHost {
    /// A host at `now_ms` whose shared data is `store` (shared with other workers' hosts).
    pub fn new(now_ms: u64, store: Rc<MemStore>, random: u64) -> FakeHost {
        let state = State {
            now_ms,
            random: Some(random),
            ..State::default()
        };
        FakeHost {
            state: Rc::new(RefCell::new(state)),
            store,
        }
    }

    pub fn now(&self) -> u64 {
        self.state.borrow().now_ms
    }

    pub fn advance(&self, ms: u64) {
        self.state.borrow_mut().now_ms += ms;
    }

    /// A callback of `context_id` starts: it is the active and the effective context.
    pub fn enter(&self, context_id: u32) {
        let mut state = self.state.borrow_mut();
        state.active = context_id;
        state.effective = context_id;
    }

    /// A request with these headers arrives on `context_id`.
    pub fn begin_request(&self, context_id: u32, headers: Vec<(String, String)>) {
        self.state.borrow_mut().requests.insert(context_id, headers);
        self.enter(context_id);
    }

    /// The host forgets the request (its stream is gone).
    pub fn forget_request(&self, context_id: u32) {
        self.state.borrow_mut().requests.remove(&context_id);
    }

    /// The request's headers as they are now (what the upstream would get).
    pub fn headers_of(&self, context_id: u32) -> Vec<(String, String)> {
        self.state
            .borrow()
            .requests
            .get(&context_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The callout answer the next `on_callout_response` reads.
    pub fn set_answer(&self, headers: Vec<(String, String)>, body: Vec<u8>) {
        self.state.borrow_mut().answer = (headers, body);
    }

    pub fn set_verify_signature(&self, behaviour: VerifySignature) {
        self.state.borrow_mut().verify_signature = behaviour;
    }

    /// How many foreign-function calls the host answered or refused.
    pub fn foreign_calls(&self) -> usize {
        self.state.borrow().foreign_calls
    }

    pub fn refuse_dispatch(&self, refuse: bool) {
        self.state.borrow_mut().refuse_dispatch = refuse;
    }

    pub fn replies(&self) -> Vec<Reply> {
        self.state.borrow().replies.clone()
    }

    pub fn replies_to(&self, context_id: u32) -> Vec<Reply> {
        let state = self.state.borrow();
        let replies = state.replies.iter();
        replies
            .filter(|r| r.context_id == context_id)
            .cloned()
            .collect()
    }

    pub fn resumed(&self) -> Vec<u32> {
        self.state.borrow().resumed.clone()
    }

    pub fn callouts(&self) -> Vec<Callout> {
        self.state.borrow().callouts.clone()
    }

    pub fn body_reads(&self) -> Vec<usize> {
        self.state.borrow().body_reads.clone()
    }

    /// The value of the stat `name` (0 when never touched); panics if it was never defined.
    pub fn stat(&self, name: &str) -> i64 {
        let state = self.state.borrow();
        let (_, id) = state
            .metrics
            .get(name)
            .unwrap_or_else(|| panic!("stat {name} is not defined"));
        state.values.get(id).copied().unwrap_or(0)
    }

    /// Whether the stat `name` was defined.
    pub fn is_defined(&self, name: &str) -> bool {
        self.state.borrow().metrics.contains_key(name)
    }

    /// Every stat with a value other than 0.
    pub fn stats(&self) -> BTreeMap<String, i64> {
        let state = self.state.borrow();
        let named = state.metrics.iter();
        named
            .filter_map(|(name, (_, id))| {
                let value = state.values.get(id).copied().unwrap_or(0);
                (value != 0).then(|| (name.clone(), value))
            })
            .collect()
    }

    /// How many host calls were made, by method, since the last [`FakeHost::take_host_calls`].
    pub fn take_host_calls(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut self.state.borrow_mut().host_calls)
    }

    fn count(&self, method: &'static str) {
        *self
            .state
            .borrow_mut()
            .host_calls
            .entry(method)
            .or_default() += 1;
    }

    fn request_call(&self) -> Result<std::cell::RefMut<'_, State>, HostError> {
        let state = self.state.borrow_mut();
        if state.requests.contains_key(&state.effective) {
            Ok(state)
        } else {
            Err(not_found())
        }
    }
}

fn not_found() -> HostError {
    HostError {
        status: "NotFound".into(),
    }
}

impl SharedStore for FakeHost {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        self.count("get");
        self.store.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        self.count("set");
        self.store.set(key, value, cas)
    }
}

impl Host for FakeHost {
    fn now_ms(&self) -> u64 {
        self.count("now_ms");
        self.state.borrow().now_ms
    }

    fn random_u64(&self) -> Option<u64> {
        self.count("random_u64");
        self.state.borrow().random
    }

    fn request_headers(&self) -> HeaderBlock {
        self.count("request_headers");
        let state = self.state.borrow();
        let headers = state.requests.get(&state.effective);
        let pairs = headers.into_iter().flatten();
        HeaderBlock::from_pairs(pairs.map(|(n, v)| (n.as_str(), v.as_str())))
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.count("set_request_header");
        let mut state = self.request_call()?;
        let effective = state.effective;
        let headers = state.requests.entry(effective).or_default();
        headers.retain(|(n, _)| n != name);
        if let Some(value) = value {
            headers.push((name.to_string(), value.to_string()));
        }
        Ok(())
    }

    fn send_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.count("send_reply");
        let mut state = self.request_call()?;
        let reply = Reply {
            context_id: state.effective,
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        state.replies.push(reply);
        Ok(())
    }

    fn resume_request(&self) -> Result<(), HostError> {
        self.count("resume_request");
        let mut state = self.request_call()?;
        let effective = state.effective;
        state.resumed.push(effective);
        Ok(())
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        self.count("set_effective_context");
        let mut state = self.state.borrow_mut();
        if !state.requests.contains_key(&context_id) {
            return Err(not_found());
        }
        state.effective = context_id;
        Ok(())
    }

    fn dispatch_callout(&self, request: &CalloutRequest<'_>) -> Result<u32, HostError> {
        self.count("dispatch_callout");
        let mut state = self.state.borrow_mut();
        if state.refuse_dispatch {
            return Err(HostError {
                status: "BadArgument".into(),
            });
        }
        // Tokens start at 100, apart from context ids.
        let token = 100 + u32::try_from(state.callouts.len()).expect("few callouts");
        let callout = Callout {
            token,
            from_context: state.active,
            cluster: request.cluster.to_string(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            timeout: request.timeout,
        };
        state.callouts.push(callout);
        Ok(token)
    }

    fn callout_response_headers(&self) -> Vec<(String, String)> {
        self.count("callout_response_headers");
        self.state.borrow().answer.0.clone()
    }

    fn callout_response_body(&self, max_bytes: usize) -> Vec<u8> {
        self.count("callout_response_body");
        let mut state = self.state.borrow_mut();
        state.body_reads.push(max_bytes);
        let body = &state.answer.1;
        body[..body.len().min(max_bytes)].to_vec()
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.count("define_metric");
        let mut state = self.state.borrow_mut();
        let next = u32::try_from(state.metrics.len()).expect("few stats") + 1;
        let (defined_kind, id) = *state
            .metrics
            .entry(name.to_string())
            .or_insert((kind, next));
        assert_eq!(defined_kind, kind, "stat {name} defined with two kinds");
        Ok(id)
    }

    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError> {
        self.count("increment_metric");
        *self.state.borrow_mut().values.entry(id).or_default() += offset;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.count("record_metric");
        let value = i64::try_from(value).expect("small gauge");
        self.state.borrow_mut().values.insert(id, value);
        Ok(())
    }

    fn call_foreign_function(&self, name: &str, arguments: &[u8]) -> Result<Vec<u8>, HostError> {
        self.count("call_foreign_function");
        let mut state = self.state.borrow_mut();
        state.foreign_calls += 1;
        let behaviour = state.verify_signature;
        if name != "verify_signature" {
            return Err(not_found());
        }
        match behaviour {
            VerifySignature::Missing => Err(not_found()),
            VerifySignature::AlwaysValid => Ok(vec![0x08, 0x01]),
            VerifySignature::FailsAfter(n) if state.foreign_calls > n => Err(HostError {
                status: "InternalFailure".into(),
            }),
            VerifySignature::Correct | VerifySignature::FailsAfter(_) => {
                Ok(reference_verify_signature(arguments))
            }
        }
    }
}

/// Envoy's `verify_signature` on RustCrypto's `rsa`: fields 1 hash, 2 DER SubjectPublicKeyInfo,
/// 3 signature, 4 text; answers `result` (field 1) true, or an `error` (field 2).
fn reference_verify_signature(arguments: &[u8]) -> Vec<u8> {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    let mut fields: [&[u8]; 5] = [&[]; 5];
    let mut rest = arguments;
    // Every field these arguments carry is length-delimited with a one-byte tag.
    while let [tag, tail @ ..] = rest {
        let (len, tail) = read_varint(tail);
        let (value, tail) = tail.split_at(len);
        if let Some(slot) = fields.get_mut(usize::from(tag >> 3)) {
            *slot = value;
        }
        rest = tail;
    }
    let [_, hash, key, signature, text] = fields;
    let valid = hash == b"sha256"
        && rsa::RsaPublicKey::from_public_key_der(key).is_ok_and(|key| {
            Signature::try_from(signature).is_ok_and(|sig| {
                VerifyingKey::<rsa::sha2::Sha256>::new(key)
                    .verify(text, &sig)
                    .is_ok()
            })
        });
    if valid {
        vec![0x08, 0x01]
    } else {
        b"\x12\x04fail".to_vec()
    }
}

fn read_varint(bytes: &[u8]) -> (usize, &[u8]) {
    let mut value = 0usize;
    for (i, byte) in bytes.iter().enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, &bytes[i + 1..]);
        }
    }
    panic!("truncated varint in the arguments");
}
