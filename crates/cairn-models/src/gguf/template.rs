//! Chat templates: the Jinja template a model ships in `tokenizer.chat_template`,
//! rendered with minijinja (plus Python-style string methods, which most templates use).
//! Models without one get ChatML.

use crate::generate::ChatMessage;
use crate::{Error, Result};
use minijinja::{Environment, ErrorKind, context};

const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    source: String,
}

impl ChatTemplate {
    /// Compiles `source` (or ChatML when `None`). `bos`/`eos` are the token texts the
    /// template may reference.
    pub fn new(source: Option<&str>, bos: &str, eos: &str) -> Result<Self> {
        let source = source.unwrap_or(CHATML).to_string();
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned("chat", source.clone())
            .map_err(|e| {
                Error::InvalidRequest(format!("the model's chat template does not compile: {e}"))
            })?;
        Ok(Self {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
            source,
        })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the conversation with the assistant's generation prompt appended.
    /// `tools` are OpenAI-style tool definitions, passed through for templates that
    /// describe tools themselves.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
    ) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::InvalidRequest("messages must not be empty".into()));
        }
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Inference(format!("chat template: {e}")))?;
        let messages: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        template
            .render(context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
            })
            .map_err(|e| Error::InvalidRequest(format!("cannot render the chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_is_the_fallback() {
        let t = ChatTemplate::new(None, "", "<|im_end|>").unwrap();
        let text = t
            .render(
                &[ChatMessage::system("Be brief."), ChatMessage::user("Hi")],
                None,
            )
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0]['content'].strip().upper() }}";
        let t = ChatTemplate::new(Some(src), "", "").unwrap();
        assert_eq!(t.render(&[ChatMessage::user("  hi ")], None).unwrap(), "HI");
        let err = t.render(&[ChatMessage::system("x")], None).unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
        assert!(t.render(&[], None).is_err());
    }
}
