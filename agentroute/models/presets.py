"""Named presets for common OpenAI-compatible services: where they are, which environment
variable holds the key, and the id the price database knows them by."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    base_url: str
    key_env: str | None
    """The environment variable the key is read from when none is given (None: no key)."""
    price_id: str | None
    """The provider's id in genai-prices (None: self-hosted, free unless priced)."""
    headers: dict[str, str] = field(default_factory=dict)


GEMINI = "https://generativelanguage.googleapis.com/v1beta/openai"
FIREWORKS = "https://api.fireworks.ai/inference/v1"
PRESETS: dict[str, Preset] = {
    "openai": Preset("https://api.openai.com/v1", "OPENAI_API_KEY", "openai"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "openrouter"),
    "gemini": Preset(
        "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY", "google"
    ),
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY", "groq"),
    "together": Preset("https://api.together.xyz/v1", "TOGETHER_API_KEY", "together"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", "fireworks"),
    "deepseek": Preset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "deepseek"),
    "mistral": Preset("https://api.mistral.ai/v1", "MISTRAL_API_KEY", "mistral"),
    "ollama": Preset("http://127.0.0.1:11434/v1", None, None),
    "vllm": Preset("http://127.0.0.1:8000/v1", None, None),
    "sglang": Preset("http://127.0.0.1:30000/v1", None, None),
    "llama.cpp": Preset("http://127.0.0.1:8080/v1", None, None),
}
