"""Strict YAML loading: plain data only, duplicate keys refused, every value's line kept.

PyYAML silently keeps the last of two equal keys and, with the wrong loader, builds
arbitrary objects from tags. We compose the node tree ourselves and construct only
plain scalars, lists and mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, PipelineError

Path = tuple[str | int, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


@dataclass
class Document:
    data: Any
    # 1-based line of each value, by key path; () is the document itself.
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def load(text: str, source: str, *, first_line: int = 1, error: type[PipelineError] = ConfigError) -> Document:
    """Parse ``text`` (which starts at ``first_line`` of ``source``) into plain data."""
    node = _compose(text, source, first_line, error)
    doc = Document(data=None)
    if node is None:
        doc.lines[()] = first_line
        return doc
    builder = _Builder(doc, source, first_line, error)
    doc.data = builder.build(node, ())
    doc.lines.pop(("<key>",), None)
    problems = builder.problems
    if problems:
        raise problems[0] if len(problems) == 1 else MultiError(problems)
    return doc


def _compose(text: str, source: str, first_line: int, error: type[PipelineError]) -> yaml.Node | None:
    """PyYAML's node tree of ``text`` (None when it is empty); its syntax errors as ``error``."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"invalid YAML: {problem}", path=source, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", path=source) from None


class _Builder:
    """Plain data from a node tree: every value's line noted in ``doc``, every problem
    (a tag, a merge key, a duplicate key…) collected as an ``error``."""

    def __init__(self, doc: Document, source: str, first_line: int, error: type[PipelineError]) -> None:
        self.doc, self.source, self.first_line, self.error = doc, source, first_line, error
        self.problems: list[PipelineError] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def problem(self, message: str, line: int) -> None:
        self.problems.append(self.error(message, path=self.source, line=line))

    def build(self, n: yaml.Node, path: Path) -> Any:
        line = self.first_line + n.start_mark.line
        self.doc.lines[path] = line
        where = ".".join(str(p) for p in path) or "document"
        if n.tag not in _PLAIN_TAGS:
            self.problem(f"{where}: YAML tag {n.tag!r} is not allowed", line)
            return None
        if isinstance(n, yaml.MappingNode):
            return self.mapping(n, path, where, line)
        if isinstance(n, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(n.value)]
        return self.constructor.construct_object(n, deep=True)

    def mapping(self, n: yaml.MappingNode, path: Path, where: str, line: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in n.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(f"{where}: merge keys are not supported", line)
                continue
            key = self.build(key_node, path + ("<key>",))
            if isinstance(key, (dict, list)):
                self.problem(f"{where}: a key must be a plain value", line)
                continue
            key_text = str(key)
            key_line = self.first_line + key_node.start_mark.line
            if key_text in out:
                first = self.doc.lines.get(path + (key_text,))
                duplicate = f"{where}.{key_text}" if path else key_text
                self.problem(f"{duplicate}: duplicate key (first at line {first})", key_line)
                continue
            out[key_text] = self.build(value_node, path + (key_text,))
            self.doc.lines[path + (key_text,)] = key_line
        return out


class MultiError(ConfigError):
    """Several problems found at once; each is reported on its own line."""

    def __init__(self, problems: list[PipelineError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
        self.path = None
