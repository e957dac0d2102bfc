"""The public fake server itself, checked with the official client (streaming and routes)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from agentroute.testing import Cut, FakeModelServer, Reply


def test_stream_delivers_every_chunk(server: FakeModelServer) -> None:
    server.script(Reply("alpha beta gamma"))
    client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "alpha beta gamma"


def test_stream_cut_mid_answer_never_finishes(server: FakeModelServer) -> None:
    server.script(Cut(0.5))
    client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert 0 < len(chunks) < 8
    assert all(c.choices[0].finish_reason is None for c in chunks)


def test_models_route_and_unknown_route(server: FakeModelServer) -> None:
    with urllib.request.urlopen(server.url + "/models", timeout=5) as resp:
        assert json.load(resp)["object"] == "list"
    req = urllib.request.Request(server.url + "/nope", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 404


def test_per_model_scripts_and_responder(server: FakeModelServer) -> None:
    server.script(Reply("for a"), model="a")
    server.responder = lambda body: Reply(f"default for {body['model']}")
    client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)

    def ask(model: str) -> str:
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "q"}])
        return r.choices[0].message.content or ""

    assert ask("b") == "default for b"
    assert ask("a") == "for a"
    assert ask("a") == "default for a"
