"""The HTML audit report: well-formed, self-contained, escaped, with embedded plots and verdicts."""

import base64
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from twinledger.verify.report import (
    MAX_PLOT_POINTS,
    AuditReport,
    DocumentVerdict,
    FeedSeries,
    HistoryEvent,
    Point,
    ProgramCallRow,
    Status,
    TwinInfo,
    Verdict,
    downsample,
    render_html,
    write_report,
)

T0 = 1_736_931_600_000  # 2025-01-15 09:00 UTC
EVIL = '<script>alert("x")</script> $\\frac{$'  # mathtext would choke on this if it were on
VOID = {"meta", "img", "br", "hr", "link", "input"}


def feed(feed_id: int, sensor: str, n: int, verdict: Verdict) -> FeedSeries:
    points = [(T0 + i * 100, 50.0 + (i % 40), i % 97 != 0, i % 250 == 0) for i in range(n)]
    return FeedSeries(feed_id, sensor, points, [(T0, T0 + 60_000), (T0 + 90_000, T0 + n * 100)],
                      [(T0 + 60_000, T0 + 90_000)], verdict, unit="%", safety_limits=(5.0, 95.0))


@pytest.fixture(scope="module")
def report() -> AuditReport:
    when = datetime(2025, 1, 15, 10, tzinfo=timezone.utc)
    return AuditReport(
        twin=TwinInfo(7, "bottling_plant", owner="0x" + "ab" * 20, device_id="BP-01", phase="operation",
                      spec_version=2, chain_id=31337, extra={"spec digest": "0x" + "cd" * 32}),
        history=[HistoryEvent(12, when, "0x" + "ab" * 20, "TwinCreated", "phase design"),
                 HistoryEvent(40, when, "0x" + "ab" * 20, "ComponentReplaced", "LT-401 -> LT-402")],
        feeds=[feed(1, "tank_level_a", 2_000, Verdict(Status.PASS, "all 2000 readings verified")),
               feed(2, EVIL, 300, Verdict(Status.FAIL, "3 readings fail their Merkle proof", ["batch 4: root mismatch"]))],
        documents=[DocumentVerdict(3, "P&ID rev C.pdf", 2, "bafkreigh2akiscaildc", Verdict(Status.WARN, "not pinned"))],
        program_calls=[ProgramCallRow(1, 55, when, "0x" + "ef" * 20, "fill_valve", "SetValvePosition",
                                      {"position": "42.5"}, "Executed", Verdict(Status.PASS, "within bounds"))],
        overall=Verdict(Status.FAIL, "feed 2 has unverifiable readings"),
        generated_at=when,
    )


@pytest.fixture(scope="module")
def page(report) -> str:
    return render_html(report)


class Checker(HTMLParser):
    """Records tags and checks that every non-void element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def parsed(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    return checker


def test_page_is_well_formed(page):
    checker = parsed(page)
    assert page.startswith("<!DOCTYPE html>")
    assert checker.errors == [] and checker.stack == []


def test_verdicts_are_shown(page):
    text = " ".join(parsed(page).text)
    for phrase in ("all 2000 readings verified", "3 readings fail their Merkle proof", "batch 4: root mismatch",
                   "not pinned", "within bounds", "feed 2 has unverifiable readings", "LT-401 -> LT-402"):
        assert phrase in text
    assert '<header class="v-fail">' in page
    assert page.count('class="badge b-fail"') >= 2  # overall and feed 2
    assert 'class="badge b-pass"' in page and 'class="badge b-warn"' in page


def test_malicious_text_is_escaped(page):
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "P&amp;ID rev C.pdf" in page
    assert all(tag != "script" for tag, _ in parsed(page).tags)


def test_plots_are_embedded_pngs(page):
    sources = [attrs["src"] for tag, attrs in parsed(page).tags if tag == "img"]
    assert len(sources) == 3  # two feeds and the coverage chart
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_no_external_resources(page):
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?i)https?:|//[a-z0-9]|url\(|@import", without_images)
    for tag, attrs in parsed(page).tags:
        for name in ("src", "href", "action", "srcset"):
            assert not attrs.get(name) or attrs[name].startswith("data:") or attrs[name].startswith("#")
    assert "default-src 'none'" in page  # CSP: even a missed escape could not load or run anything


def test_write_report_is_deterministic(tmp_path, report, page):
    path = write_report(report, tmp_path / "audit.html")
    assert path.read_text(encoding="utf-8") == page


def test_empty_report_renders():
    empty = AuditReport(TwinInfo(1, "empty"), [], [], [], [], Verdict(Status.UNKNOWN, "nothing anchored yet"))
    page = render_html(empty)
    assert parsed(page).errors == []
    assert "No feeds." in page and "No program calls." in page and "b-unknown" in page


def test_large_feed_is_downsampled_in_the_plot():
    big = feed(1, "pipe_flow", 60_000, Verdict(Status.PASS))
    page = render_html(AuditReport(TwinInfo(1, "t"), [], [big], [], [], Verdict(Status.PASS)))
    assert f"Plot shows {MAX_PLOT_POINTS} of 60000 readings" in page


def test_downsample_keeps_flagged_points_and_extremes():
    points = [Point(T0 + i, float(i % 100), True, False) for i in range(100_000)]
    points[12_345] = Point(T0 + 12_345, 10_000.0, True, False)  # a spike
    flagged = [Point(T0 + 100_000 + i, 1.0, False, True) for i in range(50)]
    kept = downsample(points + flagged, limit=1_000)
    assert len(kept) <= 1_000
    assert [p.t_ms for p in kept] == sorted(p.t_ms for p in kept)
    assert points[12_345] in kept
    assert all(p in kept for p in flagged)
    assert downsample([(T0, 1.0, True, False)]) == [Point(T0, 1.0, True, False)]


def test_downsample_caps_flagged_points_too():
    flagged = [Point(T0 + i, float(i), False, i % 2 == 0) for i in range(20_000)]
    kept = downsample(flagged, limit=500)
    assert len(kept) == 500 and kept[0] == flagged[0] and kept[-1] == flagged[-1]
