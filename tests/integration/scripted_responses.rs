//! A scripted OpenAI Responses API server for the real codex CLI: codex
//! reaches it as a custom model provider (`wire_api = "responses"`,
//! `supports_websockets = false`), POSTs `{base}/responses` and reads an SSE
//! stream back. It answers from what each request holds, not from a counter,
//! because codex's TUI also sends side requests (the thread's title) at the
//! same time as the task's:
//!
//! - a request without tools (a side request): a short text;
//! - with tools and no tool output yet: a command that writes the task's file;
//! - after one tool output: a command that commits it;
//! - after two: the final message.
//!
//! Commands go through `exec_command` (`{"cmd": ...}`), the tool codex 0.171
//! offers a model without model metadata (`-m gpt-5`); a `shell` tool
//! (`{"command": [argv]}`) is used if that is what the request offers. Every
//! answer's `response.completed` carries usage: 100 input and 20 output
//! tokens.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const INPUT_TOKENS: u64 = 100;
pub const OUTPUT_TOKENS: u64 = 20;

/// What the model does: two shell commands, then its last words.
#[derive(Debug, Clone)]
pub struct Script {
    pub write: String,
    pub commit: String,
    pub last_words: String,
    /// Each tool call waits this long before it is sent, so that the busy
    /// screen lasts long enough for the engine's pane poll to see it.
    pub delay: Duration,
}

pub struct ScriptedResponses {
    pub port: u16,
    requests: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedResponses {
    pub fn start(script: Script) -> ScriptedResponses {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (seen, script) = (seen.clone(), script.clone());
                std::thread::spawn(move || serve(conn, &script, &seen));
            }
        });
        ScriptedResponses {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The provider's base URL (codex appends `/responses`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The `-c` overrides (or config.toml lines) that make codex use it.
    pub fn provider_toml(&self) -> String {
        format!(
            "model = \"gpt-5\"\nmodel_provider = \"scripted\"\n\n[model_providers.scripted]\nname = \"scripted\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nsupports_websockets = false\n",
            self.base_url()
        )
    }

    /// Every JSON body POSTed so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ScriptedResponses {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: requests until the client closes it.
fn serve(conn: TcpStream, script: &Script, seen: &Mutex<Vec<Value>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(writer) = conn.try_clone() else { return };
    let mut writer = writer;
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let is_responses = request_line.starts_with("POST ")
            && request_line
                .split_whitespace()
                .nth(1)
                .is_some_and(|p| p.ends_with("/responses"));
        let reply = if is_responses {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock().unwrap().push(request.clone());
            let (item, delay) = answer(&request, script);
            std::thread::sleep(delay);
            let id = format!("resp_{}", seen.lock().unwrap().len());
            let body = sse(&id, item);
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            // Model lists and anything else: nothing here.
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}".to_string()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The output item that answers `request`, and how long to wait first.
fn answer(request: &Value, script: &Script) -> (Value, Duration) {
    let tools = tool_names(request);
    if tools.is_empty() {
        return (message("Write the task's file"), Duration::ZERO);
    }
    let done = request["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "function_call_output")
                .count()
        })
        .unwrap_or(0);
    let cmd = match done {
        0 => &script.write,
        1 => &script.commit,
        _ => return (message(&script.last_words), script.delay),
    };
    let offers = |name: &str| tools.iter().any(|t| t == name);
    let (name, arguments) = if offers("shell") && !offers("exec_command") {
        ("shell", json!({"command": ["bash", "-lc", cmd]}))
    } else {
        ("exec_command", json!({"cmd": cmd}))
    };
    let call = json!({
        "type": "function_call",
        "id": format!("fc_{done}"),
        "call_id": format!("call_{done}"),
        "name": name,
        "arguments": arguments.to_string(),
    });
    (call, script.delay)
}

/// The tool names a request offers, namespaces flattened.
fn tool_names(request: &Value) -> Vec<String> {
    fn walk(tools: &Value, out: &mut Vec<String>) {
        for t in tools.as_array().into_iter().flatten() {
            if t["type"] == "namespace" {
                walk(&t["tools"], out);
            } else if let Some(n) = t["name"].as_str() {
                out.push(n.to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&request["tools"], &mut out);
    out
}

fn message(text: &str) -> Value {
    json!({
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// The SSE stream of one answer of one output item.
fn sse(id: &str, item: Value) -> String {
    let events = [
        json!({"type": "response.created", "response": {"id": id}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": {"id": id, "usage": {
            "input_tokens": INPUT_TOKENS,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": OUTPUT_TOKENS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        }}}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect()
}
