//! The scripted model and the fixtures the agent tests share.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use cairn_agent::{AgentEvent, Caller, ModelHandle, ModelSource, Runtime, StartRequest};
use cairn_auth::Role;
use cairn_engine::Engine;
use cairn_models::{
    Finish, FinishReason, GenerateRequest, Generator, StreamEvent, TokenDelta, TokenStream, Usage,
};
use cairn_store::{AgentRun, AgentStep};
use cairn_types::{Principal, TenantId};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One scripted model reply.
#[derive(Clone, Debug)]
pub enum Reply {
    Text(String),
    /// A native call (remote flavor).
    Tool(String, Value),
}

/// A model that answers from a script and remembers what it was asked.
#[derive(Default)]
pub struct Script {
    pub replies: Mutex<VecDeque<Reply>>,
    pub seen: Mutex<Vec<GenerateRequest>>,
    pub remote: bool,
}

impl Script {
    pub fn new(replies: Vec<Reply>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            ..Self::default()
        })
    }

    pub fn remote(replies: Vec<Reply>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            remote: true,
            ..Self::default()
        })
    }

    /// Everything the model was shown in call `i`.
    pub fn prompt(&self, i: usize) -> String {
        match &self.seen.lock().unwrap()[i].prompt {
            cairn_models::Prompt::Chat(m) => m
                .iter()
                .map(|m| m.content.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            cairn_models::Prompt::Text(t) => t.clone(),
        }
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A local-model call (constrained JSON).
pub fn call(tool: &str, arguments: Value) -> Reply {
    Reply::Text(json!({"thought": "next", "tool": tool, "arguments": arguments}).to_string())
}

pub fn answer(text: &str) -> Reply {
    Reply::Text(json!({"thought": "done", "final_answer": text}).to_string())
}

struct ScriptGen(Arc<Script>);

impl Generator for ScriptGen {
    fn model_id(&self) -> &str {
        "script"
    }
    fn context_length(&self) -> usize {
        32_768
    }
    fn generate(&self, request: GenerateRequest) -> cairn_models::Result<TokenStream> {
        self.0.seen.lock().unwrap().push(request);
        let reply = self
            .0
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script ran out of replies");
        let (text, tool_calls) = match reply {
            Reply::Text(t) => (t, Vec::new()),
            Reply::Tool(name, args) => (
                String::new(),
                vec![
                    json!({"id": "c1", "type": "function", "function": {"name": name, "arguments": args.to_string()}}),
                ],
            ),
        };
        let mut events: Vec<cairn_models::Result<StreamEvent>> = Vec::new();
        if !text.is_empty() {
            events.push(Ok(StreamEvent::Token(TokenDelta {
                text,
                token_id: None,
                logprob: None,
                top_logprobs: Vec::new(),
            })));
        }
        events.push(Ok(StreamEvent::Done(Finish {
            reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 10,
                cached_prompt_tokens: 0,
            },
            seed: None,
            model: None,
            tool_calls,
        })));
        Ok(Box::new(events.into_iter()))
    }
}

impl ModelSource for Script {
    fn model(&self, _caller: &Caller, name: &str) -> cairn_agent::Result<ModelHandle> {
        // Tests hand the same script to every run.
        Ok(ModelHandle {
            name: if name.is_empty() {
                "script".into()
            } else {
                name.into()
            },
            generator: Arc::new(ScriptGen(
                SCRIPT.with(|s| s.borrow().clone()).expect("no script"),
            )),
            remote: self.remote,
        })
    }
    fn cost(&self, _caller: &Caller, _model: &str, prompt: usize, completion: usize) -> f64 {
        (prompt + completion) as f64 * 1e-5
    }
}

thread_local! {
    static SCRIPT: std::cell::RefCell<Option<Arc<Script>>> = const { std::cell::RefCell::new(None) };
}

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
}

pub const AGENTS: &str = r#"
[[agents]]
name = "calc"
description = "does arithmetic"
tools = ["calculator"]
max_steps = 4
max_tool_calls = 3

[[agents]]
name = "boss"
tools = ["calculator", "agent:calc"]
max_tokens = 500

[[agents]]
name = "fetcher"
tools = ["http_get", "calculator"]
http_allow_hosts = ["127.0.0.1"]
http_allow_private = true
requires_approval = ["http_get"]

[[agents]]
name = "planner"
strategy = "plan_execute"
tools = ["calculator"]
max_steps = 12

[[agents]]
name = "memo"
tools = ["memory_write", "memory_search", "sql", "search", "get_document"]

[[agents]]
name = "texty"
protocol = "react"
tools = ["calculator"]
"#;

pub fn fixture() -> Fixture {
    fixture_with(AGENTS)
}

/// An engine over a fresh data directory (with a master key, for tenant secrets) and
/// `toml` as its configuration, with tenants `acme` and `globex`.
pub fn fixture_with(toml: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("master.key"),
        cairn_auth::SecretBox::generate_key_text(),
    )
    .unwrap();
    let toml = format!("data_dir = \"{}\"\n{toml}", data.display());
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    engine.ensure_tenant(&TenantId::new("acme")).unwrap();
    engine.ensure_tenant(&TenantId::new("globex")).unwrap();
    Fixture { _dir: dir, engine }
}

pub fn runtime(f: &Fixture, script: &Arc<Script>) -> Runtime {
    SCRIPT.with(|s| *s.borrow_mut() = Some(script.clone()));
    Runtime::new(f.engine.clone()).with_models(script.clone())
}

pub fn caller(tenant: &str, user: &str, role: Role) -> Caller {
    Caller {
        tenant: TenantId::new(tenant),
        principal: Principal {
            owner: Some(user.into()),
            user: Some(user.into()),
            groups: Vec::new(),
            all_documents: false,
        },
        role,
        scopes: Vec::new(),
        actor: format!("user:{user}"),
    }
}

pub fn start(rt: &Runtime, agent: &str, task: &str, who: &Caller) -> (AgentRun, Vec<AgentEvent>) {
    let mut events = Vec::new();
    let run = rt
        .start(
            StartRequest {
                agent: agent.into(),
                task: task.into(),
                caller: who.clone(),
                history: Vec::new(),
            },
            &mut |e| events.push(e),
        )
        .unwrap();
    (run, events)
}

pub fn steps(f: &Fixture, run: &AgentRun) -> Vec<AgentStep> {
    f.engine.store().agent_steps(&run.tenant, &run.id).unwrap()
}

pub fn names(events: &[AgentEvent]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = events.iter().map(AgentEvent::name).collect();
    out.dedup();
    out
}

/// The project's Python (with `mcp`, `fastapi` and `uvicorn`).
pub fn python() -> std::path::PathBuf {
    match std::env::var_os("CAIRN_TEST_PYTHON") {
        Some(p) => std::path::PathBuf::from(p),
        None => panic!(
            "CAIRN_TEST_PYTHON is not set: these tests need the project's Python with the `mcp` \
             and `fastapi` packages. Run the suite with scripts/test.sh, or `export \
             CAIRN_TEST_PYTHON=$(scripts/python-env.sh | tail -n 1)`"
        ),
    }
}

/// A child process killed when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Python server started with `args(port)` on a free loopback port, once it accepts
/// connections.
pub fn python_server(args: impl FnOnce(u16) -> Vec<String>) -> (Killed, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(python())
        .args(args(port))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = Killed(child);
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the Python server on port {port} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (guard, port)
}
