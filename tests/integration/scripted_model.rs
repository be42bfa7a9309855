//! A scripted stand-in for the Anthropic Messages API, for running the real
//! Claude Code CLI offline (`ANTHROPIC_BASE_URL=<base_url>`): a plain HTTP/1.1
//! server on 127.0.0.1 with a thread per connection.
//!
//! Claude Code 2.1.197 sends, for one task (seen by logging its requests):
//! `HEAD /` (a connectivity check); `POST /v1/messages?beta=true` for the
//! main loop (model claude-opus-…, every tool in `tools`, `stream: true`);
//! and side calls beside it, such as the session title (a haiku model, no
//! tools, `output_config.format` a JSON schema `{title}`). The main loop is
//! answered by how many tool results its conversation holds: none → a Write
//! of the job's file, one → a Bash `git add` + `git commit`, more → a final
//! text. A side call with a JSON schema gets an object of that shape, any
//! other a short text; `/v1/messages/count_tokens` a count. Every answer
//! carries its own usage numbers (input and output tokens, distinct per
//! answer) and id, so a test can find them again in the agent's transcript.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the model is to do in one working directory.
#[derive(Debug, Clone)]
pub struct Job {
    /// Relative to the agent's working directory.
    pub file: String,
    pub content: String,
    pub commit_message: String,
}

/// What a request was taken for.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The agent's main loop, with this many tool results so far.
    MainLoop {
        step: usize,
    },
    /// A side call whose answer must fit a JSON schema (the title).
    Structured,
    /// Another side call: a short text.
    Side,
    CountTokens,
    /// `HEAD /`, `GET /`: is the API there.
    Probe,
    Unknown,
}

/// One request as the server saw and answered it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub kind: Kind,
    pub model: Option<String>,
    pub stream: bool,
    /// The working directory the system prompt names, if any.
    pub cwd: Option<String>,
    pub answer: Option<Answer>,
}

/// One message the server sent back.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: String,
    /// `tool_use:Write`, `tool_use:Bash` or `text`.
    pub content: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

type JobFor = dyn Fn(Option<&str>) -> Job + Send + Sync;

struct Shared {
    job: Box<JobFor>,
    /// Before each main-loop answer, so the agent's busy screen shows.
    delay: Duration,
    log: Mutex<Vec<Request>>,
    answers: AtomicU64,
    stop: AtomicBool,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

/// The running server; stopped (every thread joined) on drop.
pub struct ScriptedModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ScriptedModel {
    /// Serve on a free port of 127.0.0.1. `job` gets the working directory
    /// the agent's system prompt names (None when it names none).
    pub fn start(
        job: impl Fn(Option<&str>) -> Job + Send + Sync + 'static,
        delay: Duration,
    ) -> ScriptedModel {
        ScriptedModel::start_on(0, job, delay)
    }

    pub fn start_on(
        port: u16,
        job: impl Fn(Option<&str>) -> Job + Send + Sync + 'static,
        delay: Duration,
    ) -> ScriptedModel {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            job: Box::new(job),
            delay,
            log: Mutex::new(Vec::new()),
            answers: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept(listener, shared))
        };
        ScriptedModel {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// For `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The main loop's answers, in order.
    pub fn main_answers(&self) -> Vec<Answer> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.kind, Kind::MainLoop { .. }))
            .filter_map(|r| r.answer)
            .collect()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let connections = std::mem::take(&mut *self.shared.connections.lock().unwrap());
        for c in connections {
            let _ = c.join();
        }
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let for_thread = shared.clone();
        let handle = std::thread::spawn(move || serve(stream, for_thread));
        shared.connections.lock().unwrap().push(handle);
    }
}

/// One connection: requests one after another (keep-alive) until the
/// client closes it or the server stops.
fn serve(stream: TcpStream, shared: Arc<Shared>) {
    // Short reads, so a stop is noticed on an idle keep-alive connection.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let (method, path, body) = match read_request(&mut reader, &shared.stop) {
            Some(r) => r,
            None => return,
        };
        let (status, content_type, bytes) = respond(&shared, &method, &path, &body);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nrequest-id: req_scripted\r\nconnection: keep-alive\r\n\r\n",
            bytes.len()
        );
        let sent = writer
            .write_all(head.as_bytes())
            .and_then(|()| {
                if method == "HEAD" {
                    Ok(())
                } else {
                    writer.write_all(&bytes)
                }
            })
            .and_then(|()| writer.flush());
        if sent.is_err() {
            return;
        }
    }
}

/// Method, path and body of the next request; None at the end.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    stop: &AtomicBool,
) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    let mut head = Vec::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => {
                if line == "\r\n" || line == "\n" {
                    if head.is_empty() {
                        continue;
                    }
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            Err(e) if is_timeout(&e) => {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    let mut words = head[0].split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
    let header = |name: &str| {
        head[1..].iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(reader, stop)?
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        read_exact(reader, len, stop)?
    };
    Some((method, path, body))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn read_exact(reader: &mut impl Read, len: usize, stop: &AtomicBool) -> Option<Vec<u8>> {
    let mut body = vec![0; len];
    let mut got = 0;
    while got < len {
        match reader.read(&mut body[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => return None,
        }
    }
    Some(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        while size.is_empty() || !size.ends_with('\n') {
            match reader.read_line(&mut size) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if is_timeout(&e) && !stop.load(Ordering::SeqCst) => {}
                Err(_) => return None,
            }
        }
        let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let chunk = read_exact(reader, n + 2, stop)?;
        if n == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

/// Status, content type and body for one request; the request is logged.
fn respond(shared: &Shared, method: &str, path: &str, body: &[u8]) -> (String, String, Vec<u8>) {
    let route = path.split('?').next().unwrap_or(path);
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let cwd = working_directory(&req);
    let mut logged = Request {
        method: method.to_string(),
        path: path.to_string(),
        kind: Kind::Unknown,
        model: req["model"].as_str().map(str::to_string),
        stream: req["stream"].as_bool().unwrap_or(false),
        cwd: cwd.clone(),
        answer: None,
    };
    let json_type = "application/json".to_string();
    let reply = match (method, route) {
        ("HEAD" | "GET", "/") => {
            logged.kind = Kind::Probe;
            ("200 OK".into(), json_type, b"{}".to_vec())
        }
        ("POST", "/v1/messages/count_tokens") => {
            logged.kind = Kind::CountTokens;
            let n = body.len() as u64 / 4;
            let bytes = json!({"input_tokens": n}).to_string().into_bytes();
            ("200 OK".into(), json_type, bytes)
        }
        ("POST", "/v1/messages") => {
            let kind = kind_of(&req);
            if matches!(kind, Kind::MainLoop { .. }) {
                std::thread::sleep(shared.delay);
            }
            let n = shared.answers.fetch_add(1, Ordering::SeqCst) + 1;
            let (message, answer) = message(shared, &kind, &req, cwd.as_deref(), n);
            logged.kind = kind;
            logged.answer = Some(answer);
            if logged.stream {
                let bytes = events(&message).into_bytes();
                ("200 OK".into(), "text/event-stream".into(), bytes)
            } else {
                ("200 OK".into(), json_type, message.to_string().into_bytes())
            }
        }
        _ => {
            eprintln!("scripted model: no answer for {method} {path}");
            let error = json!({"type": "error", "error": {"type": "not_found_error", "message": format!("{method} {route}: not scripted")}});
            (
                "404 Not Found".into(),
                json_type,
                error.to_string().into_bytes(),
            )
        }
    };
    shared.log.lock().unwrap().push(logged);
    reply
}

/// Main loop (it offers the agent's tools), a call that wants JSON of a
/// schema, or another side call.
fn kind_of(req: &Value) -> Kind {
    let tools: Vec<&str> = req["tools"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    if tools.contains(&"Bash") {
        let step = req["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(|b| b["type"] == "tool_result")
            .count();
        Kind::MainLoop { step }
    } else if req["output_config"]["format"]["type"] == "json_schema" {
        Kind::Structured
    } else {
        Kind::Side
    }
}

/// The directory after "Primary working directory: " in any text of the
/// request (the system prompt's environment section).
fn working_directory(req: &Value) -> Option<String> {
    const MARK: &str = "Primary working directory: ";
    match req {
        Value::String(s) => s.find(MARK).map(|at| {
            s[at + MARK.len()..]
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        }),
        Value::Array(items) => items.iter().find_map(working_directory),
        Value::Object(map) => map.values().find_map(working_directory),
        _ => None,
    }
}

/// The whole message for answer number `n`, and what it was.
fn message(
    shared: &Shared,
    kind: &Kind,
    req: &Value,
    cwd: Option<&str>,
    n: u64,
) -> (Value, Answer) {
    let job = (shared.job)(cwd);
    let (block, stop_reason) = match kind {
        Kind::MainLoop { step: 0 } => match cwd {
            Some(dir) => (
                tool_use(
                    n,
                    "Write",
                    json!({"file_path": format!("{dir}/{}", job.file), "content": job.content}),
                ),
                "tool_use",
            ),
            // No absolute path to give Write: the shell writes it, relative.
            None => (
                tool_use(
                    n,
                    "Bash",
                    json!({
                        "command": format!("printf '%s' {} > {}", quote(&job.content), quote(&job.file)),
                        "description": format!("Write {}", job.file),
                    }),
                ),
                "tool_use",
            ),
        },
        Kind::MainLoop { step: 1 } => (
            tool_use(
                n,
                "Bash",
                json!({
                    "command": format!("git add -- {} && git commit -q -m {}", quote(&job.file), quote(&job.commit_message)),
                    "description": "Commit the work",
                }),
            ),
            "tool_use",
        ),
        Kind::MainLoop { .. } => (
            json!({"type": "text", "text": format!("Done: {} is written and committed.", job.file)}),
            "end_turn",
        ),
        Kind::Structured => {
            let schema = &req["output_config"]["format"]["schema"];
            let text = example_of(schema).to_string();
            (json!({"type": "text", "text": text}), "end_turn")
        }
        _ => (json!({"type": "text", "text": "OK."}), "end_turn"),
    };
    let content = match block["type"].as_str() {
        Some("tool_use") => format!("tool_use:{}", block["name"].as_str().unwrap_or("")),
        _ => "text".to_string(),
    };
    let answer = Answer {
        id: format!("msg_scripted_{n:03}"),
        content,
        input_tokens: 1000 * n + 17,
        output_tokens: 10 * n + 3,
    };
    let message = json!({
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": req["model"].as_str().unwrap_or("claude-scripted"),
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    });
    (message, answer)
}

fn tool_use(n: u64, name: &str, input: Value) -> Value {
    json!({"type": "tool_use", "id": format!("toolu_scripted_{n:03}"), "name": name, "input": input})
}

/// A value of the schema's shape: strings "Scripted task", numbers 0.
fn example_of(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("object") => {
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), example_of(v)))
                    .collect(),
            )
        }
        Some("array") => json!([]),
        Some("boolean") => json!(false),
        Some("number" | "integer") => json!(0),
        Some("string") => json!("Scripted task"),
        _ => Value::Null,
    }
}

/// The message as the streaming API sends it: message_start (no content,
/// the input tokens), one content block (start, its delta, stop),
/// message_delta (stop reason, output tokens), message_stop.
fn events(message: &Value) -> String {
    let sse = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let block = &message["content"][0];
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    let (empty, delta) = if block["type"] == "tool_use" {
        let mut empty = block.clone();
        empty["input"] = json!({});
        let delta = json!({"type": "input_json_delta", "partial_json": block["input"].to_string()});
        (empty, delta)
    } else {
        let delta = json!({"type": "text_delta", "text": block["text"]});
        (json!({"type": "text", "text": ""}), delta)
    };
    [
        sse(
            "message_start",
            json!({"type": "message_start", "message": start}),
        ),
        sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": empty}),
        ),
        sse("ping", json!({"type": "ping"})),
        sse(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        sse(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        sse(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            }),
        ),
        sse("message_stop", json!({"type": "message_stop"})),
    ]
    .concat()
}

/// One shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Serve until killed, for driving an agent by hand (captures, debugging):
/// `SCRIPTED_MODEL_PORT=8431 cargo test --test integration
/// scripted_model::serve_by_hand -- --ignored --nocapture`. Every answer is
/// printed; the job writes hello.txt and commits it as "Add hello.txt".
#[test]
#[ignore = "serves until killed; for driving an agent by hand"]
fn serve_by_hand() {
    let port = std::env::var("SCRIPTED_MODEL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8431);
    let delay_ms = std::env::var("SCRIPTED_MODEL_DELAY_MS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let model = ScriptedModel::start_on(
        port,
        |_| Job {
            file: "hello.txt".into(),
            content: "hello from the agent\n".into(),
            commit_message: "Add hello.txt".into(),
        },
        Duration::from_millis(delay_ms),
    );
    eprintln!("ANTHROPIC_BASE_URL={}", model.base_url());
    let mut seen = 0;
    loop {
        let requests = model.requests();
        for r in &requests[seen..] {
            let model = r.model.as_deref().unwrap_or("-");
            eprintln!(
                "{} {} {model} {:?} {:?}",
                r.method, r.path, r.kind, r.answer
            );
        }
        seen = requests.len();
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(model: &ScriptedModel, path: &str, body: &Value) -> (String, String) {
        let mut s = TcpStream::connect(model.addr).unwrap();
        let body = body.to_string();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            head.push_str(&line);
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        (head, String::from_utf8(body).unwrap())
    }

    fn job(_: Option<&str>) -> Job {
        Job {
            file: "out.txt".into(),
            content: "it's here\n".into(),
            commit_message: "T1: out".into(),
        }
    }

    fn main_loop(results: usize) -> Value {
        let mut messages = vec![json!({"role": "user", "content": "go"})];
        for i in 0..results {
            messages.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": format!("t{i}"), "name": "Bash", "input": {}}]}));
            messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("t{i}"), "content": "ok"}]}));
        }
        json!({
            "model": "claude-opus", "stream": true, "max_tokens": 100,
            "system": [{"type": "text", "text": "Env:\n - Primary working directory: /w/T1\n - Is a git repository: true"}],
            "tools": [{"name": "Bash"}, {"name": "Write"}],
            "messages": messages,
        })
    }

    #[test]
    fn the_main_loop_writes_then_commits_then_says_done_as_a_stream() {
        let model = ScriptedModel::start(job, Duration::ZERO);
        let (head, body) = post(&model, "/v1/messages?beta=true", &main_loop(0));
        assert!(head.contains("text/event-stream"), "{head}");
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let data: Vec<Value> = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let input: Value =
            serde_json::from_str(data[3]["delta"]["partial_json"].as_str().unwrap()).unwrap();
        assert_eq!(input["file_path"], "/w/T1/out.txt");
        assert_eq!(input["content"], "it's here\n");
        assert_eq!(data[5]["usage"]["output_tokens"], 13);
        assert_eq!(data[0]["message"]["usage"]["input_tokens"], 1017);
        post(&model, "/v1/messages", &main_loop(1));
        let (_, last) = post(&model, "/v1/messages", &main_loop(2));
        assert!(last.contains("text_delta"), "{last}");
        let answers = model.main_answers();
        let kinds: Vec<&str> = answers.iter().map(|a| a.content.as_str()).collect();
        assert_eq!(kinds, ["tool_use:Write", "tool_use:Bash", "text"]);
        let commit = &model.requests()[1];
        assert_eq!(commit.kind, Kind::MainLoop { step: 1 });
        assert_eq!(commit.cwd.as_deref(), Some("/w/T1"));
    }

    #[test]
    fn side_calls_get_their_shape_and_unknown_paths_a_404() {
        let model = ScriptedModel::start(job, Duration::ZERO);
        let title = json!({
            "model": "claude-haiku", "stream": false, "tools": [],
            "messages": [{"role": "user", "content": "title?"}],
            "output_config": {"format": {"type": "json_schema", "schema": {
                "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}},
        });
        let (_, body) = post(&model, "/v1/messages", &title);
        let message: Value = serde_json::from_str(&body).unwrap();
        let text: Value =
            serde_json::from_str(message["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, json!({"title": "Scripted task"}));
        let (_, count) = post(&model, "/v1/messages/count_tokens", &main_loop(0));
        assert!(count.contains("input_tokens"), "{count}");
        let (head, _) = post(&model, "/v1/other", &json!({}));
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let kinds: Vec<Kind> = model.requests().into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Structured, Kind::CountTokens, Kind::Unknown]);
    }
}
