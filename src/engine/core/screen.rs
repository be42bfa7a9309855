//! An interactive agent's screen, read by its profile's `screen` rules:
//! known dialogs answered once with their keys, WAITING on sign-in and
//! question screens with their words, the prompt typed into an agent that
//! cannot be started with one, and text typed the way the agent submits it.
//! What is on screen is data (`config/presets.yaml`, a plan's `screen`);
//! nothing here knows one agent from another.

use super::Core;
use crate::engine::effect::Effect;
use crate::engine::event::Event;
use crate::engine::snapshot::{RunPhase, TaskState};
use crate::engine::tasks::TaskIdx;
use crate::plan::screen::{AgentState, Submit};

/// A dialog still on screen this long after it was answered did not take
/// the answer: the screen's own waiting rule asks a person then.
const DIALOG_GRACE_MS: u64 = 3_000;
/// `submit: separate_enter`: the Enter follows the text this much later
/// (gemini took an Enter sent a second after the text; one right behind
/// it counted as part of a paste). Sent by the first poll after it.
pub(super) const SUBMIT_GAP_MS: u64 = 1_000;

impl Core {
    /// Type `text` into `t`'s pane and submit it the way its profile says.
    pub(super) fn type_into(&mut self, t: TaskIdx, text: String) {
        let submit = self
            .plan
            .plan
            .agents
            .get(self.tasks[t].profile())
            .and_then(|a| a.submit)
            .unwrap_or_default();
        let now = self.now();
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return;
        };
        let Some(pane) = w.pane_id.clone() else {
            return;
        };
        let enter = submit == Submit::WithEnter;
        if !enter {
            w.screen.enter_due_ms = Some(now + SUBMIT_GAP_MS);
        }
        self.effect(Effect::SendLine { pane, text, enter });
    }

    /// The lone Enters that are due (`submit: separate_enter`).
    pub(super) fn send_due_enters(&mut self) {
        let now = self.now();
        let mut due = Vec::new();
        for w in self.tasks.workers_mut() {
            if w.screen.enter_due_ms.is_some_and(|at| at <= now) {
                w.screen.enter_due_ms = None;
                due.extend(w.pane_id.clone());
            }
        }
        for pane in due {
            let keys = vec!["Enter".to_string()];
            self.effect(Effect::SendKeys { pane, keys });
        }
    }

    /// `t`'s screen read again, with its new visible `lines` (a capture)
    /// and/or its new `title` (the poll), then acted on. `ruled`: with new
    /// lines, whether the profile's own prompt rules matched them (they
    /// come first). True when the screen rules know what the agent is doing,
    /// so no generic question is looked for.
    pub(super) fn read_agent_screen(
        &mut self,
        t: TaskIdx,
        lines: Option<Vec<String>>,
        title: Option<&str>,
        ruled: Option<bool>,
    ) -> bool {
        let plan = self.plan.clone();
        let Some(rules) = plan
            .plan
            .agents
            .get(self.tasks[t].profile())
            .map(|a| &a.screen)
            .filter(|r| !r.is_empty())
        else {
            return false;
        };
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return false;
        };
        if let Some(ruled) = ruled {
            w.screen.ruled = ruled;
        }
        if w.screen.update(rules, lines, title) {
            self.dirty = true;
        }
        let known = w.screen.reading.state.is_some();
        self.act_on_screen(t);
        known
    }

    /// What the screen asks of the engine: answer a known dialog, wait for
    /// a person, or type the first prompt.
    fn act_on_screen(&mut self, t: TaskIdx) {
        let state = self.tasks[t].state();
        if !matches!(state, TaskState::Running | TaskState::Waiting)
            || self.phase != RunPhase::Running
        {
            return;
        }
        let now = self.now();
        let plan = self.plan.clone();
        let Some(profile) = plan.plan.agents.get(self.tasks[t].profile()) else {
            return;
        };
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return;
        };
        let Some(pane) = w.pane_id.clone() else {
            return;
        };
        if w.exit.is_some() {
            return;
        }
        // A known dialog: answered once while it stays on screen.
        let mut answered = None;
        match w.screen.reading.dialog.clone() {
            None => w.screen.answered = None,
            Some((i, line))
                if !w.screen.ruled && w.screen.answered.is_none_or(|(seen, _)| seen != i) =>
            {
                w.screen.answered = Some((i, now));
                answered = profile.screen.dialogs.get(i).map(|d| (d, line));
            }
            Some(_) => {}
        }
        let lingering = w
            .screen
            .answered
            .is_some_and(|(_, at)| now < at + DIALOG_GRACE_MS);
        let asks = (!w.screen.ruled && !lingering)
            .then(|| w.screen.asks())
            .flatten()
            .map(str::to_string);
        let signin = matches!(w.screen.reading.state, Some(AgentState::Signin { .. }));
        let rule = w.screen.reading.rule.clone();
        let type_prompt = profile.type_prompt.clone().filter(|_| {
            !w.screen.prompt_typed && w.screen.is_idle() && state == TaskState::Running
        });
        if type_prompt.is_some() {
            w.screen.prompt_typed = true;
        }
        let last_line = w.screen.last_line().unwrap_or_default().to_string();
        let before = w.screen.waiting_on.clone();

        if let Some((dialog, line)) = answered {
            let keys = dialog.keys.clone();
            let event = Event::PromptAnswered {
                pattern: dialog.pattern.source().to_string(),
                line,
                sent: keys.join(" "),
            };
            self.effect(Effect::SendKeys { pane, keys });
            self.record_task(t, event);
        }
        if asks != before {
            self.screen_asks(t, asks, before, signin, rule);
        }
        if let Some(prompt) = type_prompt {
            self.type_into(t, prompt.clone());
            let event = Event::PromptAnswered {
                pattern: "typePrompt".into(),
                line: last_line,
                sent: prompt,
            };
            self.record_task(t, event);
        }
    }

    /// The screen asks a person (`asks`), or no longer does.
    fn screen_asks(
        &mut self,
        t: TaskIdx,
        asks: Option<String>,
        before: Option<String>,
        signin: bool,
        rule: Option<(String, String)>,
    ) {
        let state = self.tasks[t].state();
        match asks {
            // WAITING for another reason (a report, a prompt rule): that
            // reason's end is what ends it.
            Some(_) if state == TaskState::Waiting && before.is_none() => {}
            Some(words) => {
                if let Some(w) = self.tasks[t].worker.as_mut() {
                    w.screen.waiting_on = Some(words.clone());
                }
                if let Some((pattern, line)) = rule {
                    self.record_task(t, Event::Prompt { pattern, line });
                }
                let reason = if signin {
                    words
                } else {
                    format!("asks: {words}")
                };
                self.set_state(t, TaskState::Waiting, Some(reason));
            }
            None => {
                if let Some(w) = self.tasks[t].worker.as_mut() {
                    w.screen.waiting_on = None;
                }
                if state == TaskState::Waiting {
                    let reason = "the screen no longer asks".to_string();
                    self.set_state(t, TaskState::Running, Some(reason));
                }
            }
        }
    }
}
