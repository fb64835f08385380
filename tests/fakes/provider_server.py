"""Fake OpenAI / Anthropic / Gemini server on 127.0.0.1 (built by the providers issue)."""
