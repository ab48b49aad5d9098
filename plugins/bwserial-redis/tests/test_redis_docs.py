"""The README's signature, argument table and example match the code and run against a
real Redis; docs/deployment-redis.md names test files that exist."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pytest
from redis_server import RedisServer

from bwserial_redis import RedisCallRegistry

PACKAGE = Path(__file__).resolve().parents[1]
README = PACKAGE / "README.md"
DEPLOYMENT = PACKAGE.parents[1] / "docs" / "deployment-redis.md"


def _shown_signature(obj: object) -> str:
    parts: list[str] = []
    star = False
    for p in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return f"{obj.__name__}({', '.join(parts)})"  # type: ignore[attr-defined]


def test_the_readme_shows_the_real_signature_and_every_argument() -> None:
    text = README.read_text(encoding="utf-8")
    signature = _shown_signature(RedisCallRegistry)
    assert f"`{signature}`" in text, f"README should show `{signature}`"
    documented = re.findall(r"^\| `(\w+)` \|", text, re.M)
    assert documented == list(inspect.signature(RedisCallRegistry).parameters)


async def test_the_readme_example_runs(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has no python example"
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for code in blocks:
        namespace: dict[str, object] = {"__name__": "readme_example"}
        exec(compile(code, str(README), "exec"), namespace)
        main = namespace.get("main")
        if main is not None:
            async with asyncio.timeout(20):
                await main()  # type: ignore[operator]


def test_the_deployment_doc_names_tests_that_exist() -> None:
    text = DEPLOYMENT.read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_redis_\w+\.py)`", text))
    assert named, "docs/deployment-redis.md should say which tests measure each failure"
    here = {p.name for p in Path(__file__).parent.glob("test_redis_*.py")}
    assert named <= here, named - here
