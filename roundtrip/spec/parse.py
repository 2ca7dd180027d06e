"""The JSON form of model specs and graph specs: reading it, each helper checking one field and raising a
SpecError naming its path (`layers[2].inputs[0]`) so that a hand-edited spec.json says where it is wrong, and
the text it is written as."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

from roundtrip.spec.values import SpecError, shown


class JsonForm:
    """`to_json` and `from_json` for a spec class with `to_dict` and `from_dict`: the text has one layer or
    node per line and a stable key order (`LAST` put last), so equal specs give equal text; a parse error
    names the whole `DOCUMENT` ("spec", "graph") when the text is not JSON."""

    DOCUMENT: ClassVar[str]
    LAST: ClassVar[str | None] = None

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        raise NotImplementedError

    def to_json(self) -> str:
        return json_text(self.to_dict(), self.LAST)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(load_json(text, cls.DOCUMENT))


def load_json(text: str, what: str) -> Any:
    """The JSON value of `text`; `what` names the document in the error ("spec", "graph")."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(what, f"not JSON ({e})") from None


def want(value: Any, kind: type, path: str) -> Any:
    """`value` if it is a `kind` (a bool is no int)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(path, f"want {kind.__name__}, got {value!r}")
    return value


def want_list(value: Any, kind: type, path: str) -> list[Any]:
    """`value` if it is a list of `kind` items (each checked as `path[j]`)."""
    items = want(value, list, path)
    for j, item in enumerate(items):
        want(item, kind, f"{path}[{j}]")
    return items  # type: ignore[no-any-return]


def no_extra(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise SpecError(f"{path}.{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def records(value: Any, path: str, allowed: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each item of the list `value` with its path (`path[k]`), checked to be an object of `allowed` fields."""
    for k, raw in enumerate(want(value, list, path)):
        where = f"{path}[{k}]"
        item = want(raw, dict, where)
        no_extra(item, allowed, where)
        yield where, item


def document(data: Any, what: str, version: int, allowed: set[str]) -> dict[str, Any]:
    """The top object of a spec's JSON (`what`: "spec", "graph"), of schema `version`, with `allowed` fields."""
    obj = want(data, dict, what)
    if obj.get("schema") != version:
        raise SpecError("schema", f"unsupported schema version {obj.get('schema')!r} (this build reads {version})")
    no_extra(obj, allowed, what)
    return obj  # type: ignore[no-any-return]


def choice(value: Any, options: Sequence[Any], path: str) -> Any:
    """`value` if it is one of `options`, and of their type (13.0 is no opset)."""
    if not isinstance(value, type(options[0])) or value not in options:
        raise SpecError(path, f"want one of {list(options)}, got {value!r}")
    return value


def fail(path: str, wanted: str, value: Any) -> SpecError:
    """The error of a parameter check: what it wants, and the value as its JSON shows it."""
    return SpecError(path, f"want {wanted}, got {shown(value)}")


def shape_text(dims: Sequence[object]) -> str:
    """A shape as Python writes a tuple: `(3,)`, `(None, 4)`, `(N, 8)`."""
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(map(str, dims))})"


def json_text(data: dict[str, Any], last: str | None = None) -> str:
    """A spec's JSON text: keys sorted (`last` put last), each list of objects one object per line, so equal
    specs give equal text and a diff shows the layer or node that changed."""
    parts = []
    for key in sorted(data, key=lambda k: (k == last, k)):
        value = data[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = ",\n    ".join(json.dumps(v, sort_keys=True) for v in value)
            parts.append(f'  "{key}": [\n    {rows}\n  ]')
        else:
            parts.append(f'  "{key}": {json.dumps(value)}')
    return "{\n" + ",\n".join(parts) + "\n}\n"
