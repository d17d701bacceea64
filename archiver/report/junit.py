"""The `junit` format: a check report as JUnit XML, which every CI shows as test results.

One `<testsuite>` per document, one `<testcase>` per citation (name: the cited URL; classname: the
document, so CI groups them as it groups test files). `fail` is a `<failure>` whose message is the
first reason; `warn` passes, with its reasons in `<system-out>` (CI that reads them shows them;
`check --strict` is what turns warnings into a failing exit code). Deterministic: times come from
the report, never the clock.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from archiver.models import CheckResult, Overall, Report
from archiver.report import archive_text, drift_text, live_text, when


def _verdicts(result: CheckResult) -> str:
    return f"live: {live_text(result)}; archive: {archive_text(result)}; drift: {drift_text(result.drift)}"


def render_report(report: Report) -> str:
    by_document: dict[str, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        by_document[result.citation.found_in.path].append(result)
    seconds = f"{max(0.0, (report.finished_at - report.started_at).total_seconds()):.3f}"
    root = ET.Element("testsuites", name=report.title, tests=str(len(report.results)), time=seconds)
    root.set("failures", str(sum(r.overall is Overall.FAIL for r in report.results)))
    for document, results in by_document.items():
        suite = ET.SubElement(root, "testsuite", name=document, tests=str(len(results)), errors="0", skipped="0")
        suite.set("failures", str(sum(r.overall is Overall.FAIL for r in results)))
        suite.set("timestamp", when(report.started_at).replace(" ", "T").rstrip("Z"))
        suite.set("time", "0")
        for result in results:
            where = result.citation.found_in
            case = ET.SubElement(suite, "testcase", name=result.citation.url, classname=document, time="0")
            case.set("file", where.path)
            case.set("line", str(where.line))
            details = "\n".join([_verdicts(result), *result.reasons])
            if result.overall is Overall.FAIL:
                message = result.reasons[0] if result.reasons else _verdicts(result)
                failure = ET.SubElement(case, "failure", message=message, type="fail")
                failure.text = details
            else:
                out = ET.SubElement(case, "system-out")
                out.text = f"{result.overall.value}: {details}"
    if report.notes:
        props = ET.Element("properties")
        root.insert(0, props)
        for i, note in enumerate(report.notes, start=1):
            ET.SubElement(props, "property", name=f"note{i}", value=note)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
