"""YAML loading that remembers where every value came from.

Ops teams edit specs by hand, so every later error must point at a file, line
and column. PyYAML's nodes carry marks; this loader keeps them on the values it
builds (``node.loc``) and records the location of every mapping key and value,
reports duplicate keys (plain PyYAML silently keeps the last one), and turns
syntax errors into located :class:`~kpiengine.errors.SpecIssue` objects.

It never raises on hostile text: nesting is measured on the event stream
before the recursive composer runs, aliases are counted after expansion (a
470-byte alias bomb would otherwise expand to gigabytes), explicit tags other
than the plain YAML types are refused, and control characters are reported at
their line and column (see :mod:`kpiengine.spec.limits`).
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import Location, SpecIssue
from .limits import MAX_YAML_DEPTH, MAX_YAML_NODES

# The located types live in .located (no PyYAML there); they stay importable from here.
from .located import LDict, LList, LStr, expand_env, expand_path, field_loc, loc_of  # noqa: F401


def _mark_loc(filename: str, mark) -> Location:
    return Location(filename, mark.line + 1, mark.column + 1)


class _Refused(Exception):
    """Composed YAML that is not turned into values (too deep, too big, an unsupported tag)."""

    def __init__(self, message: str, mark, hint: str):
        super().__init__(message)
        self.mark, self.hint = mark, hint


# LibYAML's parser when PyYAML was built with it: the same events and marks, five times faster.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader (no arbitrary objects) that records locations and duplicate keys."""

    def __init__(self, stream, filename: str, issues: list[SpecIssue]):
        super().__init__(stream)
        self.filename = filename
        self.issues = issues

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # `!!float abc`: a plain tag, a value it cannot take
            raise _Refused(f"cannot read this value: {exc}", node.start_mark,
                           "quote the value to keep it as text") from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    result = LDict()
    result.loc = _mark_loc(loader.filename, node.start_mark)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            loader.issues.append(SpecIssue("a mapping key must be a plain value",
                                           _mark_loc(loader.filename, key_node.start_mark), code="yaml"))
            continue
        key_loc = _mark_loc(loader.filename, key_node.start_mark)
        if key in result:
            first = result.key_locs[key]
            loader.issues.append(SpecIssue(
                f"duplicate key '{key}' (first defined at line {first.line})", key_loc,
                hint="each name may appear once in a mapping; rename or merge the two entries",
                code="duplicate"))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_locs[key] = key_loc
        result.value_locs[key] = _mark_loc(loader.filename, value_node.start_mark)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    result = LList(loader.construct_object(child, deep=True) for child in node.value)
    result.loc = _mark_loc(loader.filename, node.start_mark)
    result.item_locs = [_mark_loc(loader.filename, child.start_mark) for child in node.value]
    return result


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> LStr:
    value = LStr(loader.construct_scalar(node))
    value.loc = _mark_loc(loader.filename, node.start_mark)
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG, _construct_str)
# Dates stay text: period and date fields are validated by the spec, not guessed by YAML.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


#: Tags a spec may carry (implicitly or written out): the plain JSON-like types, and merge keys.
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")}


def _check_depth(text: str) -> None:
    """Nesting of the event stream, measured without recursion (PyYAML's composer recurses)."""
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _Refused(f"the YAML nests more than {MAX_YAML_DEPTH} levels deep", event.start_mark,
                               "a spec needs a few levels: check the indentation, or flatten the structure")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_graph(root: yaml.Node) -> None:
    """Node count with aliases expanded (memoised per node: linear in the text), and only plain tags."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered, children not done: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_nodes:
            raise _Refused("an alias refers to the anchor it is inside of", node.start_mark,
                           "an anchor (&name) cannot contain its own alias (*name)")
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(f"the YAML tag {tag} is not supported in a spec", node.start_mark,
                           "remove the tag: write plain text, numbers, true/false, lists and mappings")
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if children_done or not children:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                raise _Refused(f"the YAML expands to more than {MAX_YAML_NODES:,} values (aliases included)",
                               node.start_mark, "an alias (*name) repeats its anchor: use fewer, or split the file")
        else:
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)


def _construct(loader: _Loader, root: yaml.Node) -> Any:
    return loader.construct_document(root)


def _located_problem(text: str, filename: str, exc: yaml.YAMLError) -> SpecIssue:
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[:exc.position]
        loc = Location(filename, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        return SpecIssue(f"invalid YAML: the control character U+{ord(char[:1] or ' '):04X} is not allowed in a spec",
                         loc, hint="remove it (a copy-paste from a terminal or a binary file?)", code="yaml")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    loc = _mark_loc(filename, mark) if mark else Location(filename, 1, 1)
    what = getattr(exc, "problem", None) or str(exc)
    context = f" ({exc.context})" if getattr(exc, "context", None) else ""
    hint = "check indentation and quoting near this line"
    lines = text.splitlines()
    line = lines[loc.line - 1] if 0 < loc.line <= len(lines) else ""
    if "\t" in line:
        hint = "YAML does not allow tabs for indentation: use spaces"
    elif "mapping values are not allowed" in what:
        too_far = over_indented(lines, loc.line)
        if too_far:
            return SpecIssue(too_far, loc, hint="keys of one mapping start in the same column", code="yaml")
        hint = "a value containing ': ' must be quoted, e.g. label: \"Sales: leads\""
    return SpecIssue(f"invalid YAML: {what}{context}", loc, hint=hint, code="yaml")


_KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w-]*)\s*:(\s|$)")


def over_indented(lines: list[str], line_no: int) -> str | None:
    """For "mapping values are not allowed here" at ``line_no``: a key indented past the one above it."""
    if not 1 < line_no <= len(lines):
        return None
    here = _KEY_LINE.match(lines[line_no - 1])
    if not here:
        return None
    for above in reversed(lines[:line_no - 1]):
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        prev = _KEY_LINE.match(above)
        if prev and len(here.group(1)) > len(prev.group(1)) and above.split(":", 1)[1].strip():
            return (f"`{here.group(2)}:` is indented more than `{prev.group(2)}:` above it, so YAML reads it "
                    f"as part of the value of `{prev.group(2)}:`; put it at the same level ({len(prev.group(1))} "
                    "spaces)")
        return None
    return None


def load_yaml_text(text: str, filename: str) -> tuple[Any, list[SpecIssue]]:
    """Parse one YAML document. Returns (data or None, issues); never raises on bad YAML."""
    try:
        loader = _Loader(text, filename, [])  # the reader checks for control characters here
    except yaml.YAMLError as exc:
        return None, [_located_problem(text, filename, exc)]
    try:
        return _read_plain(loader, filename), []
    except (_NotPlain, yaml.YAMLError):
        pass  # anything unusual, broken or refused: the full reader below, which says what and where
    finally:
        loader.dispose()
    return _load_checked(text, filename)


def _load_checked(text: str, filename: str) -> tuple[Any, list[SpecIssue]]:
    issues: list[SpecIssue] = []
    try:
        loader = _Loader(text, filename, issues)
    except yaml.YAMLError as exc:
        return None, [_located_problem(text, filename, exc)]
    try:
        _check_depth(text)
        root = loader.get_single_node()
        if root is None:
            return None, issues
        _check_graph(root)
        data = _construct(loader, root)
    except _Refused as exc:
        issues.append(SpecIssue(f"invalid YAML: {exc}", _mark_loc(filename, exc.mark), hint=exc.hint, code="yaml"))
        return None, issues
    except yaml.YAMLError as exc:
        issues.append(_located_problem(text, filename, exc))
        return None, issues
    finally:
        loader.dispose()
    return data, issues


class _NotPlain(Exception):
    """A document the one-pass reader leaves to the full one (anchors, tags, merge keys, any problem)."""


_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null"))
_NO_KEY = object()


def _read_plain(loader: _Loader, filename: str) -> Any:
    """The values of a plain document (no anchor, alias, explicit tag or merge key, no duplicate or
    collection key, within the depth and size limits) in ONE pass over the parser's events.

    The full reader parses the text twice (once to measure the nesting before PyYAML's recursive
    composer runs), builds a node graph, walks it to count and check it, then constructs the values
    through PyYAML's constructor: most of a large spec's load time. Here the events are built into
    the same located values directly, with an explicit stack (no recursion, so no depth to fear).
    Anything else raises :class:`_NotPlain` and the full reader handles the document, so problems
    are reported exactly as before.
    """
    get_event = loader.get_event
    resolve = loader.resolve
    constructors = loader.yaml_constructors
    scalar_event, map_start, map_end = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
    seq_start, seq_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    if type(get_event()) is not yaml.StreamStartEvent:
        raise _NotPlain
    event = get_event()
    if type(event) is yaml.StreamEndEvent:
        return None
    if type(event) is not yaml.DocumentStartEvent:
        raise _NotPlain
    # A frame per open collection: [value, is_mapping, pending key, its location]
    stack: list[list] = []
    nodes = 0
    root: Any = None
    tags: dict[tuple, str] = {}
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            if event.anchor is not None or event.tag not in (None, "!"):
                raise _NotPlain
            mark = event.start_mark
            loc = Location(filename, mark.line + 1, mark.column + 1)
            tag = tags.get((event.value, event.implicit))
            if tag is None:  # the implicit type of a text depends on the text only: resolved once each
                tag = tags[(event.value, event.implicit)] = resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _STR_TAG:
                value = LStr(event.value)
                value.loc = loc
            elif tag in _SCALAR_TAGS:
                try:
                    value = constructors[tag](loader, yaml.ScalarNode(tag, event.value, mark, event.end_mark,
                                                                      event.style))
                except (ValueError, TypeError, OverflowError):
                    raise _NotPlain from None
            else:  # merge keys (<<), !!value (=): the full reader's business
                raise _NotPlain
            nodes += 1
        elif kind is map_start or kind is seq_start:
            if event.anchor is not None or event.tag not in (None, "!"):
                raise _NotPlain
            mark = event.start_mark
            loc = Location(filename, mark.line + 1, mark.column + 1)
            value = LDict() if kind is map_start else LList()
            value.loc = loc
            stack.append([value, kind is map_start, _NO_KEY, None])
            nodes += 1
            if len(stack) > MAX_YAML_DEPTH:
                raise _NotPlain
            continue
        elif kind is map_end or kind is seq_end:
            value = stack.pop()[0]
            loc = value.loc
        elif kind is yaml.DocumentEndEvent and not stack:
            break
        else:  # an alias, or anything unexpected
            raise _NotPlain
        if not stack:
            root = value
            continue
        frame = stack[-1]
        if not frame[1]:
            frame[0].append(value)
            frame[0].item_locs.append(loc)
        elif frame[2] is _NO_KEY:
            if isinstance(value, (list, dict)):
                raise _NotPlain
            frame[2], frame[3] = value, loc
        else:
            mapping, key = frame[0], frame[2]
            if key in mapping:
                raise _NotPlain  # a duplicate key: reported by the full reader
            mapping[key] = value
            mapping.key_locs[key] = frame[3]
            mapping.value_locs[key] = loc
            frame[2] = _NO_KEY
    if nodes > MAX_YAML_NODES or type(get_event()) is not yaml.StreamEndEvent:
        raise _NotPlain  # too big, or a second document: the full reader says so
    return root
