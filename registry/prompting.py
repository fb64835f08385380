"""External versions: a prompt template turns inputs into a request, a response parser turns
the provider's answer into a (label, score). Pure functions, no Django.

Prompt template: `{name}` is replaced by the input `name`, `{inputs}` by all inputs as JSON;
`{{` and `}}` are literal braces. Nothing else is evaluated (no attribute or index access).

Response parser (a JSON object stored on the version; `{}` means "auto"):
- `{"type": "json", "label": "label", "score": "score", "threshold": 0.5}`: the first JSON
  object in the answer; label and score read from those keys (a missing label is derived
  from the score and threshold);
- `{"type": "number", "threshold": 0.5}`: the first number in the answer is the score;
- `{"type": "label", "labels": {"yes": 1, "no": 0}, "scores": {"yes": 1.0, "no": 0.0}}`: the
  answer's first word (case-insensitive) names the label;
- `{"type": "regex", "pattern": "...", "label_group": "label", "score_group": "score"}`;
- `{}` (auto): try json, then number, else the stripped text is the label.
"""

import json
import re
from typing import Any

PARSER_TYPES = ("json", "number", "label", "regex")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


class PromptError(ValueError):
    """The template, the parser or the provider's answer does not fit; the message says how."""


def prompt_render(template: str, inputs: dict[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name == "inputs":
            return json.dumps(inputs, default=str, sort_keys=True)
        if name not in inputs:
            raise PromptError(
                f"The prompt template uses {{{name}}} but the inputs have no '{name}'."
            )
        return str(inputs[name])

    return _PLACEHOLDER.sub(replace, template)


def parser_problems(parser: Any) -> list[str]:
    if parser in (None, {}):
        return []
    if not isinstance(parser, dict):
        return ["must be a JSON object"]
    kind = parser.get("type")
    if kind not in PARSER_TYPES:
        return [f"type must be one of {', '.join(PARSER_TYPES)}"]
    problems = []
    if kind == "label" and not isinstance(parser.get("labels"), dict):
        problems.append('a label parser needs \'labels\', e.g. {"yes": 1, "no": 0}')
    if kind == "regex":
        try:
            re.compile(str(parser.get("pattern", "")))
        except re.error as exc:
            problems.append(f"pattern is not a valid regular expression: {exc}")
        if not parser.get("pattern"):
            problems.append("a regex parser needs 'pattern'")
    if "threshold" in parser and not isinstance(parser["threshold"], int | float):
        problems.append("threshold must be a number")
    return problems


def _label_from_score(score: float, threshold: float) -> int:
    return int(score >= threshold)


def _first_json_object(text: str) -> dict | None:
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    return None


def _as_score(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"The answer's score {value!r} is not a number.") from exc


def _labelled(label: Any, score: float | None, threshold: float) -> Any:
    if label is None and score is not None:
        return _label_from_score(score, threshold)
    return label


def _parse_json(text: str, parser: dict, threshold: float) -> tuple[Any, float | None] | None:
    obj = _first_json_object(text)
    if obj is None:
        return None
    score = _as_score(obj.get(parser.get("score", "score")))
    label = _labelled(obj.get(parser.get("label", "label")), score, threshold)
    return (label, score) if label is not None else None


def _parse_number(text: str, parser: dict, threshold: float) -> tuple[Any, float | None] | None:
    match = _NUMBER.search(text)
    if not match:
        return None
    score = float(match.group(0))
    return _label_from_score(score, threshold), score


def _parse_label(text: str, parser: dict, threshold: float) -> tuple[Any, float | None]:
    words = text.split()
    word = words[0].strip(".,:;!\"'").lower() if words else ""
    labels = {str(k).lower(): v for k, v in parser.get("labels", {}).items()}
    if word not in labels:
        raise PromptError(f"The answer {text[:60]!r} is none of the labels {sorted(labels)}.")
    scores = {str(k).lower(): v for k, v in parser.get("scores", {}).items()}
    return labels[word], _as_score(scores.get(word))


def _parse_regex(text: str, parser: dict, threshold: float) -> tuple[Any, float | None]:
    match = re.search(parser["pattern"], text)
    if not match:
        raise PromptError("The answer does not match the parser's pattern.")
    groups = match.groupdict()
    score = _as_score(groups.get(parser.get("score_group", "score")))
    return _labelled(groups.get(parser.get("label_group", "label")), score, threshold), score


# Parsers that may find nothing (then the next is tried when no type is set), and what
# each says when it is the one the version asks for.
_OPTIONAL_PARSERS = (
    ("json", _parse_json, "The answer holds no JSON object with a label or a score."),
    ("number", _parse_number, "The answer holds no number."),
)
_STRICT_PARSERS = {"label": _parse_label, "regex": _parse_regex}


def response_parse(answer: str, parser: dict | None) -> tuple[Any, float | None]:
    parser = parser or {}
    kind = parser.get("type")
    threshold = float(parser.get("threshold", 0.5))
    text = (answer or "").strip()
    for name, parse, refusal in _OPTIONAL_PARSERS:
        if kind in (None, name):
            found = parse(text, parser, threshold)
            if found is not None:
                return found
            if kind == name:
                raise PromptError(refusal)
    if kind in _STRICT_PARSERS:
        return _STRICT_PARSERS[kind](text, parser, threshold)
    if not text:
        raise PromptError("The provider answered with an empty text.")
    return text, None
