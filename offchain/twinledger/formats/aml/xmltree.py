"""A small line-numbered XML tree built by defusedxml's SAX parser (DTDs forbidden): the only XML
reader of the AML import."""

from __future__ import annotations

import xml.sax
import xml.sax.handler
from collections.abc import Iterator
from dataclasses import dataclass, field

import defusedxml
import defusedxml.sax

from .model import AmlError, MAX_COMPONENTS, MAX_VALUE_CHARS, MAX_XML_DEPTH, MAX_XML_ELEMENTS


# ---------------------------------------------------------------------------------------------
# XML: a small line-numbered tree built by a defused SAX parser


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Node] = field(default_factory=list)
    text: str = ""
    namespace: str | None = None  # the XML namespace of the element (kept for the root only)

    def kids(self, tag: str) -> Iterator[_Node]:
        return (c for c in self.children if c.tag == tag)

    def kid(self, tag: str) -> _Node | None:
        return next(self.kids(tag), None)


def _local(qname: str) -> str:
    return qname.rsplit(":", 1)[-1]


class _TreeBuilder(xml.sax.handler.ContentHandler):
    """Builds `_Node`s, enforcing the size limits while parsing rather than after."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.locator: xml.sax.xmlreader.Locator | None = None
        self.root: _Node | None = None
        self.stack: list[_Node] = []
        self.texts: list[list[str]] = []
        self.elements = 0
        self.components = 0

    def line(self) -> int | None:
        return self.locator.getLineNumber() if self.locator else None

    def fail(self, message: str) -> AmlError:
        return AmlError(message, line=self.line(), source=self.source)

    def setDocumentLocator(self, locator: xml.sax.xmlreader.Locator) -> None:  # noqa: N802
        self.locator = locator

    def startElement(self, name: str, attrs: xml.sax.xmlreader.AttributesImpl) -> None:  # noqa: N802
        self.elements += 1
        if self.elements > MAX_XML_ELEMENTS:
            raise self.fail(f"too many XML elements (limit {MAX_XML_ELEMENTS})")
        if len(self.stack) >= MAX_XML_DEPTH:
            raise self.fail(f"XML nesting deeper than {MAX_XML_DEPTH} levels")
        tag = _local(name)
        if tag == "InternalElement":
            self.components += 1
            if self.components > MAX_COMPONENTS:
                raise self.fail(f"too many InternalElements (limit {MAX_COMPONENTS})")
        values = {_local(k): v for k, v in attrs.items()}
        for key, value in values.items():
            if len(value) > MAX_VALUE_CHARS:
                raise self.fail(f"XML attribute {key!r} of <{tag}> is longer than {MAX_VALUE_CHARS} characters")
        node = _Node(tag, values, self.line() or 0)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            prefix = name.split(":", 1)[0] if ":" in name else ""
            node.namespace = attrs.get(f"xmlns:{prefix}" if prefix else "xmlns")
            self.root = node
        self.stack.append(node)
        self.texts.append([])

    def characters(self, content: str) -> None:
        if self.texts:
            self.texts[-1].append(content)

    def endElement(self, name: str) -> None:  # noqa: N802
        node = self.stack.pop()
        text = "".join(self.texts.pop()).strip()
        if len(text) > MAX_VALUE_CHARS:
            raise AmlError(
                f"text of <{node.tag}> is longer than {MAX_VALUE_CHARS} characters", line=node.line, source=self.source
            )
        node.text = text


def _parse_xml(data: bytes, source: str) -> _Node:
    builder = _TreeBuilder(source)
    try:
        # forbid_dtd: AML never needs a DTD, and refusing it blocks entity bombs and XXE at once.
        defusedxml.sax.parseString(data, builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except xml.sax.SAXParseException as exc:
        raise AmlError(f"malformed XML: {exc.getMessage()}", line=exc.getLineNumber(), source=source) from exc
    except defusedxml.DTDForbidden as exc:
        raise AmlError(
            "DOCTYPE declarations are not allowed in AML files (entity expansion and external entities are refused)",
            line=builder.line(),
            source=source,
        ) from exc
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise AmlError(
            f"entity declarations and external references are refused: {exc}", line=builder.line(), source=source
        ) from exc
    if builder.root is None:
        raise AmlError("empty document", source=source)
    return builder.root
