"""Validation of request bodies against Discord's OpenAPI spec plus the limits the spec does not state.

The spec (``../shared/discord-api/openapi.json`` beside a checkout, see its README) is loaded once per process
and adjusted for its known quirks before use:

* ``oneOf`` is rewritten to ``anyOf``: the spec uses both to mean "one of these types", and several branches
  often match the same payload (e.g. two option schemas differing only in a field discord.py omits);
* ``"integer"`` also accepts int-parseable strings (Discord does; discord.py sends its nonce that way) and
  ``SnowflakeType`` also accepts non-negative integers (discord.py sends some ids as ints);
* ``ChannelTypes`` gains ``GUILD_MEDIA`` (16), which discord.py puts in ``channel_types`` of forum options.

jsonschema and referencing are dev dependencies: Kiji itself never needs them, and ``kiji demo`` without them
(or without the spec file, which is not shipped) still checks the limits below and says the spec is not used.

Entry points: :func:`load_spec_validator` (cached :class:`SpecValidator`), :meth:`SpecValidator.validate`
(spec + extra limits for one request) and the spec-free checks :func:`check_message_limits` and
:func:`check_autocomplete_choices`. Each returns a list of human-readable problems (empty = valid).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # A dev dependency: without it the emulator still checks the limits below, just not the spec.
    import jsonschema
    import jsonschema.exceptions
    import jsonschema.validators
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:  # pragma: no cover - exercised only in an install without the dev extras
    jsonschema = None  # type: ignore[assignment]

SPEC_URI = "urn:discord-emulator:openapi"
API_PREFIX = "/api/v10"

MESSAGE_CONTENT_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FIELDS_MAX = 25
EMBEDS_TOTAL_MAX = 6000
# Components V2 (message flag 1 << 15): every component counts, nested ones too, and the text
# of all text displays together.
IS_COMPONENTS_V2 = 1 << 15
V2_COMPONENTS_MAX = 40
V2_TEXT_MAX = 4000
AUTOCOMPLETE_CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_STRING_VALUE_MAX = 100

_INT_STRING = re.compile(r"^-?[0-9]+$")

# Interaction callback types whose ``data`` is a message.
_MESSAGE_CALLBACK_TYPES = {4, 7}
_AUTOCOMPLETE_CALLBACK_TYPE = 8


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, int):
        return True
    if isinstance(instance, float):
        return instance.is_integer()
    return isinstance(instance, str) and bool(_INT_STRING.match(instance))


@functools.cache
def _validator_class() -> Any:
    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
    )


class SpecUnavailable(Exception):
    """The spec cannot be used here: no file, or no jsonschema (installed with Kiji's dev extras)."""


def _rewrite(node: Any) -> Any:
    """Return a copy of ``node`` with every ``oneOf`` turned into ``anyOf``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out["anyOf" if key == "oneOf" else key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def _adjust_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = _rewrite(copy.deepcopy(spec))
    schemas = spec["components"]["schemas"]
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    channel_types = schemas["ChannelTypes"]
    branches = channel_types.get("anyOf", [])
    if not any(b.get("const") == 16 for b in branches):
        branches.append({"title": "GUILD_MEDIA", "const": 16})
    return spec


@dataclass(frozen=True)
class _Operation:
    template: str
    regex: re.Pattern[str]
    n_params: int
    method: str
    # content type -> index into the registered request schemas
    schemas: Mapping[str, int]


class SpecValidator:
    """Validates request bodies by (method, path) against the adjusted OpenAPI spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        spec = _adjust_spec(spec)
        request_schemas: list[Any] = []
        operations: list[_Operation] = []
        for template, item in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            for method, op in item.items():
                if method not in {"get", "put", "post", "patch", "delete"}:
                    continue
                by_type: dict[str, int] = {}
                for ctype, content in op.get("requestBody", {}).get("content", {}).items():
                    if "schema" in content:
                        by_type[ctype] = len(request_schemas)
                        request_schemas.append(content["schema"])
                operations.append(
                    _Operation(template, re.compile(pattern), template.count("{"), method.upper(), by_type)
                )
        # Literal segments beat parameters: "/messages/@original" before "/messages/{message_id}".
        operations.sort(key=lambda o: o.n_params)
        spec["components"]["x-emulator-requests"] = request_schemas
        self._operations = operations
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[int, Any] = {}

    def find_operation(self, method: str, path: str) -> _Operation | None:
        """The spec operation for ``path`` (relative to ``/api/v10``, or absolute with it) and ``method``."""
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        method = method.upper()
        for op in self._operations:
            if op.method == method and op.regex.match(path):
                return op
        return None

    def _validator(self, index: int) -> Any:
        validator = self._validators.get(index)
        if validator is None:
            schema = {"$ref": f"{SPEC_URI}#/components/x-emulator-requests/{index}"}
            validator = _validator_class()(schema, registry=self._registry)
            self._validators[index] = validator
        return validator

    def validate_schema(self, method: str, path: str, body: Any, content_type: str = "application/json") -> list[str]:
        """Problems of ``body`` against the operation's requestBody schema (``[]`` when valid)."""
        op = self.find_operation(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in Discord's OpenAPI spec"]
        if body is None:
            return []
        if not op.schemas:
            return [f"{method} {op.template}: the spec defines no request body, but one was sent"]
        index = op.schemas.get(content_type, op.schemas.get("application/json"))
        if index is None:
            index = next(iter(op.schemas.values()))
        errors = list(self._validator(index).iter_errors(body))
        if not errors:
            return []
        best = jsonschema.exceptions.best_match(errors)
        assert best is not None
        where = best.json_path
        others = [f"  also: {e.json_path}: {e.message[:200]}" for e in errors if e is not best][:4]
        return [f"{method} {op.template}: spec violation at {where}: {best.message[:300]}", *others]

    def validate(self, method: str, path: str, body: Any, content_type: str = "application/json") -> list[str]:
        """Spec validation plus the unstated limits for the kind of request (messages, callbacks)."""
        problems = self.validate_schema(method, path, body, content_type)
        problems.extend(check_request_limits(method, path, body))
        return problems


def check_request_limits(method: str, path: str, body: Any) -> list[str]:
    """The limits Discord enforces but the spec does not state, chosen by route."""
    if not isinstance(body, dict):
        return []
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    method = method.upper()
    where = f"{method} {path}"
    if method == "POST" and re.fullmatch(r"/interactions/[^/]+/[^/]+/callback", path):
        data = body.get("data")
        if body.get("type") in _MESSAGE_CALLBACK_TYPES and isinstance(data, dict):
            return [f"{where}: {p}" for p in check_message_limits(data)]
        if body.get("type") == _AUTOCOMPLETE_CALLBACK_TYPE and isinstance(data, dict):
            return [f"{where}: {p}" for p in check_autocomplete_choices(data.get("choices"))]
        return []
    is_message_route = re.fullmatch(r"/channels/[^/]+/messages(/[^/]+)?", path) or re.fullmatch(
        r"/webhooks/[^/]+/[^/]+(/messages/[^/]+)?", path
    )
    if is_message_route and method in {"POST", "PATCH"}:
        return [f"{where}: {p}" for p in check_message_limits(body)]
    if method == "POST" and re.fullmatch(r"/channels/[^/]+/threads", path):
        problems = []
        if isinstance(body.get("message"), dict):
            problems += [f"{where}: thread starter {p}" for p in check_message_limits(body["message"])]
        return problems
    return []


def _len(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def check_message_limits(message: Mapping[str, Any]) -> list[str]:
    """Content ≤ 2,000 chars and Discord's embed limits (per field and 6,000 in total)."""
    problems: list[str] = []
    content = message.get("content")
    if isinstance(content, str) and len(content) > MESSAGE_CONTENT_MAX:
        problems.append(f"message content is {len(content)} characters (limit {MESSAGE_CONTENT_MAX})")
    embeds = message.get("embeds") or []
    total = 0
    for i, embed in enumerate(embeds if isinstance(embeds, list) else []):
        if not isinstance(embed, dict):
            continue
        title = _len(embed.get("title"))
        description = _len(embed.get("description"))
        footer = _len((embed.get("footer") or {}).get("text"))
        author = _len((embed.get("author") or {}).get("name"))
        fields = embed.get("fields") or []
        if title > EMBED_TITLE_MAX:
            problems.append(f"embeds[{i}].title is {title} characters (limit {EMBED_TITLE_MAX})")
        if description > EMBED_DESCRIPTION_MAX:
            problems.append(f"embeds[{i}].description is {description} characters (limit {EMBED_DESCRIPTION_MAX})")
        if footer > EMBED_FOOTER_MAX:
            problems.append(f"embeds[{i}].footer.text is {footer} characters (limit {EMBED_FOOTER_MAX})")
        if author > EMBED_AUTHOR_MAX:
            problems.append(f"embeds[{i}].author.name is {author} characters (limit {EMBED_AUTHOR_MAX})")
        if len(fields) > EMBED_FIELDS_MAX:
            problems.append(f"embeds[{i}] has {len(fields)} fields (limit {EMBED_FIELDS_MAX})")
        total += title + description + footer + author
        for j, field in enumerate(fields):
            name, value = _len(field.get("name")), _len(field.get("value"))
            if name > EMBED_FIELD_NAME_MAX:
                problems.append(f"embeds[{i}].fields[{j}].name is {name} characters (limit {EMBED_FIELD_NAME_MAX})")
            if value > EMBED_FIELD_VALUE_MAX:
                problems.append(f"embeds[{i}].fields[{j}].value is {value} characters (limit {EMBED_FIELD_VALUE_MAX})")
            total += name + value
    if total > EMBEDS_TOTAL_MAX:
        problems.append(f"embeds total {total} characters (limit {EMBEDS_TOTAL_MAX} per message)")
    return problems + _components_v2_problems(message)


def _components_v2_problems(message: Mapping[str, Any]) -> list[str]:
    """A Components V2 message (flag 1 << 15): no content or embeds, ≤ 40 components, ≤ 4,000 characters of text."""
    flags = message.get("flags")
    if not isinstance(flags, int) or not flags & IS_COMPONENTS_V2:
        return []
    problems = [f"a Components V2 message cannot have {key}" for key in ("content", "embeds") if message.get(key)]
    count = text = 0
    stack = list(message.get("components") or [])
    while stack:
        component = stack.pop()
        if not isinstance(component, dict):
            continue
        count += 1
        text += _len(component.get("content"))
        stack.extend(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            stack.append(component["accessory"])
    if count > V2_COMPONENTS_MAX:
        problems.append(f"{count} components (limit {V2_COMPONENTS_MAX} in a Components V2 message)")
    if text > V2_TEXT_MAX:
        problems.append(f"text displays hold {text} characters (limit {V2_TEXT_MAX} per message)")
    return problems


def check_autocomplete_choices(choices: Any) -> list[str]:
    """≤ 25 choices, each name 1–100 characters (string values ≤ 100)."""
    if choices is None:
        return ["autocomplete response has no choices"]
    if not isinstance(choices, list):
        return ["autocomplete choices is not a list"]
    problems = []
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        problems.append(f"autocomplete returned {len(choices)} choices (limit {AUTOCOMPLETE_CHOICES_MAX})")
    for i, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= CHOICE_NAME_MAX:
            problems.append(f"choices[{i}].name must be 1-{CHOICE_NAME_MAX} characters: {name!r}")
        value = choice.get("value") if isinstance(choice, dict) else None
        if isinstance(value, str) and len(value) > CHOICE_STRING_VALUE_MAX:
            problems.append(f"choices[{i}].value is {len(value)} characters (limit {CHOICE_STRING_VALUE_MAX})")
    return problems


@functools.cache
def _load(path: str) -> SpecValidator:
    return SpecValidator(json.loads(Path(path).read_text(encoding="utf-8")))


def load_spec_validator(path: str | Path) -> SpecValidator:
    """The (process-wide cached) validator for the spec file at ``path``; SpecUnavailable says why not."""
    if jsonschema is None:
        raise SpecUnavailable("jsonschema is not installed (pip install 'kiji[dev]')")
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise SpecUnavailable(f"{resolved} is absent")
    return _load(str(resolved))


def join_problems(problems: Iterable[str]) -> str:
    return "\n".join(f"- {p}" for p in problems)
