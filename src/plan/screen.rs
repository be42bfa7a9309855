//! How an interactive agent's screen is read: a profile's `screen` rules
//! (its own, or its preset's from `config/presets.yaml`) and [`read`], the
//! pure function that turns a pane's visible lines and title into what the
//! agent is doing. The engine acts on the [`Reading`]; the rules are data.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// One thing to look for on a screen: plain text (a case-sensitive
/// substring of a line), `{regex: …}` (over the whole screen, multi-line
/// mode) or `{last_line: …}` (a regex on the last non-empty line), each
/// with optional `say:` words to show when it matches.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "RawPattern", into = "RawPattern")]
pub struct Pattern {
    find: Find,
    pub say: Option<String>,
}

#[derive(Debug, Clone)]
enum Find {
    Text(String),
    Regex(Regex),
    LastLine(Regex),
}

/// A pattern as written: a string, or a mapping with exactly one of
/// `match`, `regex`, `last_line`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum RawPattern {
    Plain(String),
    Rule(RawRule),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, alias = "lastLine", skip_serializing_if = "Option::is_none")]
    last_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    say: Option<String>,
}

impl TryFrom<RawPattern> for Pattern {
    type Error = String;
    fn try_from(raw: RawPattern) -> Result<Pattern, String> {
        let rule = match raw {
            RawPattern::Plain(text) => return Ok(Pattern::text(text)),
            RawPattern::Rule(rule) => rule,
        };
        let find = match (rule.text, rule.regex, rule.last_line) {
            (Some(text), None, None) => Find::Text(text),
            (None, Some(rx), None) => Find::Regex(compile(&rx)?),
            (None, None, Some(rx)) => Find::LastLine(compile(&rx)?),
            _ => {
                return Err(
                    "a screen pattern needs exactly one of `match`, `regex`, `last_line`".into(),
                );
            }
        };
        Ok(Pattern {
            find,
            say: rule.say,
        })
    }
}

impl From<Pattern> for RawPattern {
    fn from(p: Pattern) -> RawPattern {
        let mut rule = RawRule {
            say: p.say,
            ..RawRule::default()
        };
        match p.find {
            Find::Text(text) if rule.say.is_none() => return RawPattern::Plain(text),
            Find::Text(text) => rule.text = Some(text),
            Find::Regex(rx) => rule.regex = Some(rx.as_str().to_string()),
            Find::LastLine(rx) => rule.last_line = Some(rx.as_str().to_string()),
        }
        RawPattern::Rule(rule)
    }
}

/// Regexes are multi-line (`^`/`$` at line ends) and capped in size, so a
/// plan cannot make the poll slow.
pub fn compile(source: &str) -> Result<Regex, String> {
    RegexBuilder::new(source)
        .multi_line(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            // regex's message draws the pattern over several lines: its last one says why.
            let text = e.to_string();
            let why = text.lines().last().unwrap_or_default();
            format!(
                "invalid regex {source:?}: {}",
                why.trim_start_matches("error: ")
            )
        })
}

/// Where a pattern matched: the line (trimmed) and the matched text.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub line: String,
    pub text: String,
}

impl Pattern {
    pub fn text(text: impl Into<String>) -> Pattern {
        Pattern {
            find: Find::Text(text.into()),
            say: None,
        }
    }

    /// What is looked for, as written (for the journal).
    pub fn source(&self) -> &str {
        match &self.find {
            Find::Text(t) => t,
            Find::Regex(rx) | Find::LastLine(rx) => rx.as_str(),
        }
    }

    /// The bottom-most match on `screen` (lines, trailing spaces trimmed).
    pub fn find(&self, screen: &[String]) -> Option<Hit> {
        let hit = |line: &str, text: &str| Hit {
            line: line.trim().to_string(),
            text: text.to_string(),
        };
        match &self.find {
            Find::Text(t) if t.is_empty() => None,
            Find::Text(t) => screen
                .iter()
                .rev()
                .find(|l| l.contains(t.as_str()))
                .map(|l| hit(l, t)),
            Find::Regex(rx) => {
                let joined = screen.join("\n");
                let m = rx.find_iter(&joined).filter(|m| !m.is_empty()).last()?;
                let start = joined[..m.start()].rfind('\n').map_or(0, |i| i + 1);
                let end = joined[m.start()..]
                    .find('\n')
                    .map_or(joined.len(), |i| m.start() + i);
                Some(hit(&joined[start..end], m.as_str()))
            }
            Find::LastLine(rx) => {
                let last = screen.iter().rev().find(|l| !l.trim().is_empty())?;
                rx.find(last).map(|m| hit(last, m.as_str()))
            }
        }
    }

    /// The words to show for a hit: `say`, else the matched line, else
    /// (a line too long to show, or a menu's frame) the matched text.
    fn words(&self, hit: &Hit) -> String {
        if let Some(say) = &self.say {
            return say.clone();
        }
        let line = hit
            .line
            .trim_matches(|c: char| c.is_whitespace() || "│┃║|".contains(c));
        if line.chars().count() <= 100 {
            line.to_string()
        } else {
            hit.text.trim().to_string()
        }
    }
}

/// How typed text is submitted to an agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Submit {
    /// Text and Enter in one tmux request.
    #[default]
    WithEnter,
    /// Enter as a request of its own, a moment later (gemini treats an
    /// Enter that arrives with the text as part of a paste).
    SeparateEnter,
}

/// A dialog the agent shows on the way in, and the keys that answer it for
/// the person (tmux key names: `Enter`, `"2"`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dialog {
    #[serde(rename = "match")]
    pub pattern: Pattern,
    pub keys: Vec<String>,
}

/// What an interactive agent's screen shows. Every field is optional.
/// Precedence: a dialog to answer, `signin`, `waiting`, `busy`, `idle`; the
/// title only when the screen says none of these. Everything reads the
/// whole visible screen but `busy`, which reads its last [`BUSY_LINES`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScreenRules {
    /// A person must act (log in, approve a key): WAITING with `say`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signin: Vec<Pattern>,
    /// A question or menu: WAITING with its line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<Pattern>,
    /// Working (`esc to interrupt`), on the screen's last lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<Pattern>,
    /// At its prompt; counts only when no busy pattern matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle: Vec<Pattern>,
    /// It cannot reach its model: shown beside its state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<Pattern>,
    /// Its provider says it is rate limited or overloaded (429, 529): the
    /// profile backs off. Read on the screen's last lines, besides the
    /// generic [`rate_limit_line`].
    #[serde(default, alias = "rate_limit", skip_serializing_if = "Vec::is_empty")]
    pub rate_limit: Vec<Pattern>,
    /// Known dialogs answered once, with keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogs: Vec<Dialog>,
    /// Regexes on `#{pane_title}`.
    #[serde(
        default,
        alias = "title_busy",
        skip_serializing_if = "Option::is_none",
        with = "opt_regex"
    )]
    pub title_busy: Option<Regex>,
    #[serde(
        default,
        alias = "title_idle",
        skip_serializing_if = "Option::is_none",
        with = "opt_regex"
    )]
    pub title_idle: Option<Regex>,
}

mod opt_regex {
    use regex::Regex;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rx: &Option<Regex>, s: S) -> Result<S::Ok, S::Error> {
        match rx {
            Some(rx) => s.serialize_some(rx.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|src| super::compile(&src).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl ScreenRules {
    pub fn is_empty(&self) -> bool {
        self.signin.is_empty()
            && self.waiting.is_empty()
            && self.busy.is_empty()
            && self.idle.is_empty()
            && self.error.is_empty()
            && self.rate_limit.is_empty()
            && self.dialogs.is_empty()
            && self.title_busy.is_none()
            && self.title_idle.is_none()
    }
}

/// What the agent is doing, by its screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// A person must act; the rule's words.
    Signin {
        words: String,
    },
    /// A question or menu waits; its words.
    Waiting {
        words: String,
    },
    Busy,
    Idle,
}

/// One screen (and title) read by a profile's rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub state: Option<AgentState>,
    /// The rule and line behind a Signin or Waiting state (for the journal).
    pub rule: Option<(String, String)>,
    /// An error the agent shows, in words.
    pub error: Option<String>,
    /// The known dialog on screen: its index in `dialogs`, and its line.
    pub dialog: Option<(usize, String)>,
}

/// What any agent's pane says when its provider refuses for load, read on
/// every worker's last lines whatever its profile: an HTTP 429 or 529 near
/// the words that go with them, "rate limit(ed)", "too many requests",
/// "overloaded". A code listing that merely mentions one is not meant to
/// match: the words must read as a status (`Error: 429`, `rate limited`,
/// `API Error: Overloaded`, `rate_limit_error`).
static GENERIC_RATE_LIMIT: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    RegexBuilder::new(
        r"\b(?:429|529)\b.{0,40}(?:too many|rate|overload|limit)|(?:status|error|code|http)\W{0,3}(?:429|529)\b|\brate[ _-]?limit(?:ed|_error| exceeded| reached)\b|\b(?:hit|reached|exceeded)\s+(?:your|the|a)\s+(?:rate|usage)\s*limit|\btoo many requests\b|\boverloaded(?:_error)?\b",
    )
    .case_insensitive(true)
    .build()
    .expect("the generic rate-limit pattern compiles")
});

/// The bottom-most line of `lines` that says the agent is rate limited or
/// overloaded: by the profile's own `rateLimit` patterns first, else by the
/// generic one.
pub fn rate_limit_line(rules: Option<&ScreenRules>, lines: &[String]) -> Option<String> {
    if let Some(hit) = rules.and_then(|r| first(&r.rate_limit, lines)) {
        return Some(hit.1.line);
    }
    lines
        .iter()
        .rev()
        .find(|l| GENERIC_RATE_LIMIT.is_match(l))
        .map(|l| l.trim().to_string())
}

/// Busy patterns read the screen's last lines only: agents keep their busy
/// line at the bottom (at most 7 lines up in every capture), and one that
/// scrolled up is history, not work going on.
pub const BUSY_LINES: usize = 8;

/// The first pattern of `patterns` (in their order) found on `screen`.
fn first<'p>(patterns: &'p [Pattern], screen: &[String]) -> Option<(&'p Pattern, Hit)> {
    patterns
        .iter()
        .find_map(|p| p.find(screen).map(|hit| (p, hit)))
}

/// Read `screen` (the pane's visible lines, trailing spaces and blank lines
/// trimmed) and `title` by `rules`. Titles never override the screen: some
/// agents' titles read idle while a dialog waits.
pub fn read(rules: &ScreenRules, screen: &[String], title: &str) -> Reading {
    let mut reading = Reading {
        error: first(&rules.error, screen)
            .map(|(p, hit)| p.say.clone().unwrap_or_else(|| hit.text.trim().to_string())),
        dialog: rules
            .dialogs
            .iter()
            .enumerate()
            .find_map(|(i, d)| d.pattern.find(screen).map(|hit| (i, hit.line))),
        ..Reading::default()
    };
    if let Some((p, hit)) = first(&rules.signin, screen) {
        let words = p.words(&hit);
        reading.rule = Some((p.source().to_string(), hit.line));
        reading.state = Some(AgentState::Signin { words });
    } else if let Some((p, hit)) = first(&rules.waiting, screen) {
        let words = p.words(&hit);
        reading.rule = Some((p.source().to_string(), hit.line));
        reading.state = Some(AgentState::Waiting { words });
    } else if first(
        &rules.busy,
        &screen[screen.len().saturating_sub(BUSY_LINES)..],
    )
    .is_some()
    {
        reading.state = Some(AgentState::Busy);
    } else if first(&rules.idle, screen).is_some() {
        reading.state = Some(AgentState::Idle);
    } else if rules
        .title_busy
        .as_ref()
        .is_some_and(|rx| rx.is_match(title))
    {
        reading.state = Some(AgentState::Busy);
    } else if rules
        .title_idle
        .as_ref()
        .is_some_and(|rx| rx.is_match(title))
    {
        reading.state = Some(AgentState::Idle);
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    fn rules(yaml: &str) -> ScreenRules {
        serde_norway::from_str(yaml).expect("rules parse")
    }

    #[test]
    fn patterns_are_text_regexes_or_the_last_line() {
        let r = rules(
            "busy: [\"esc to interrupt\"]\n\
             idle: [{last_line: '^>$'}]\n\
             waiting: [{regex: '\\[(Yes|No)\\]: *$'}]\n\
             signin: [{match: Login, say: 'log in first'}]\n\
             error: [{regex: 'API Error: \\w+'}]\n",
        );
        let at = |text: &str| read(&r, &lines(text), "").state;
        assert_eq!(at("Working (esc to interrupt)\n>"), Some(AgentState::Busy));
        assert_eq!(at("done\n>"), Some(AgentState::Idle));
        assert_eq!(at(">\nmore output"), None, "> is not the last line");
        assert_eq!(at("> x"), None);
        assert_eq!(
            at("Add .aider* to .gitignore? (Y)es/(N)o [Yes]:"),
            Some(AgentState::Waiting {
                words: "Add .aider* to .gitignore? (Y)es/(N)o [Yes]:".into()
            })
        );
        assert_eq!(
            at("Login to OpenRouter? [Yes]:"),
            Some(AgentState::Signin {
                words: "log in first".into()
            }),
            "signin before waiting"
        );
        let reading = read(&r, &lines("⎿ API Error: Unable to connect\n>"), "");
        assert_eq!(reading.error.as_deref(), Some("API Error: Unable"));
        assert_eq!(reading.state, Some(AgentState::Idle));
    }

    #[test]
    fn a_busy_line_counts_only_at_the_bottom() {
        let r = rules("busy: [\"esc to interrupt\"]\nidle: [\"> type\"]\n");
        let mut screen = lines("thinking (esc to interrupt)");
        assert_eq!(read(&r, &screen, "").state, Some(AgentState::Busy));
        screen.extend(lines("\n\n\n\n\n\n\n\n> type your request"));
        assert_eq!(read(&r, &screen, "").state, Some(AgentState::Idle));
    }

    #[test]
    fn titles_count_only_when_the_screen_says_nothing() {
        let r = rules(
            "idle: [\"│ > \"]\n\
             waiting: [\"Trust?\"]\n\
             titleBusy: '^[\\x{2800}-\\x{28FF}] '\n\
             title_idle: '^✳'\n",
        );
        let at = |text: &str, title: &str| read(&r, &lines(text), title).state;
        assert_eq!(at("", "⠐ Claude Code"), Some(AgentState::Busy));
        assert_eq!(at("", "✳ Claude Code"), Some(AgentState::Idle));
        assert_eq!(at("", "vm"), None);
        assert_eq!(at("│ > │", "⠐ Claude Code"), Some(AgentState::Idle));
        assert!(matches!(
            at("Trust?", "✳ Claude Code"),
            Some(AgentState::Waiting { .. })
        ));
    }

    #[test]
    fn long_lines_and_frames_show_the_matched_words() {
        let r = rules("waiting: [\"Do you trust the files in this folder?\"]\n");
        let framed = format!(
            " │ Do you trust the files in this folder?{} │",
            " ".repeat(150)
        );
        let reading = read(&r, &[framed], "");
        assert_eq!(
            reading.state,
            Some(AgentState::Waiting {
                words: "Do you trust the files in this folder?".into()
            })
        );
    }

    #[test]
    fn bad_patterns_are_refused_and_good_ones_read_back() {
        for bad in [
            "busy: [{regex: '('}]\n",
            "busy: [{match: a, regex: b}]\n",
            "busy: [{say: a}]\n",
            "titleBusy: '['\n",
            "busy: [{mach: a}]\n",
        ] {
            assert!(serde_norway::from_str::<ScreenRules>(bad).is_err(), "{bad}");
        }
        let r = rules(
            "busy: [a, {match: b, say: c}, {regex: d}, {last_line: e}]\ntitleIdle: f\n\
             dialogs: [{match: 'Trust?', keys: [Enter]}]\n",
        );
        let back = serde_norway::to_string(&r).unwrap();
        let again = rules(&back);
        assert_eq!(serde_norway::to_string(&again).unwrap(), back);
        assert!(back.contains("last_line: e"), "{back}");
    }
}

#[cfg(test)]
mod rate_limit_tests {
    use super::rate_limit_line;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_generic_pattern_reads_provider_refusals() {
        for said in [
            "API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}",
            "API Error: 529 Overloaded",
            "  ⎿  API Error: Repeated 529 Overloaded errors",
            "Error: HTTP 429 Too Many Requests",
            "[sim] rate limited: retry after 30s",
            "The API provider's servers are down or overloaded.",
            "stream error: status 429",
            "You've hit your rate limit. Try again later.",
        ] {
            assert!(
                rate_limit_line(None, &lines(said)).is_some(),
                "should read as a rate limit: {said}"
            );
        }
        for work in [
            "[sim] T4 step 3/10: writing src/retry.ts",
            "fn limit_rate(x: u32) -> u32 { x.min(429) }",
            "Processed 529 files",
            "add a rate limiter to the API client",
        ] {
            assert_eq!(rate_limit_line(None, &lines(work)), None, "{work}");
        }
    }

    #[test]
    fn a_profiles_own_patterns_come_first() {
        let rules: super::ScreenRules =
            serde_norway::from_str("rateLimit: [\"slow down, partner\"]").unwrap();
        assert_eq!(
            rate_limit_line(Some(&rules), &lines("x\nslow down, partner\n")).as_deref(),
            Some("slow down, partner")
        );
    }
}
